/**
 * Binary state files: bit-exact round trips, size, the checks on load (each error naming its
 * field) and the refusal to merge states made with other options, widths or weights.
 */
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createNRCAccumulator,
  NRCAccumulator,
  NRCInputError,
  makeSyntheticNetwork,
  type AccumulatorOptions,
} from "../../src/index.js";
import { readStateFile, writeStateFile } from "../../src/node/index.js";
import { sha256Hex } from "../../src/state/sha256.js";
import { decodeState, encodeState } from "../../src/state/binary.js";
import type { StateSnapshot } from "../../src/state/snapshot.js";
import { encodeSafetensors } from "../../src/io/safetensors-write.js";
import { makeRng } from "../../src/io/synthetic.js";
import { batchesOf, rowsOf } from "../helpers/batches.js";

const net = makeSyntheticNetwork({ samples: 240, layers: 3, width: 12, targets: 3, seed: 5 });
const weights = net.layers.map((l) => l.weight);

async function filled(opts: AccumulatorOptions = {}, cuts = [0, 70, 150, 240]) {
  const acc = createNRCAccumulator({ weights, ...opts });
  await acc.addAll(batchesOf(net, cuts));
  return acc;
}

/** Every number of two JSON states identical, bit for bit (Object.is). */
function sameBits(a: unknown, b: unknown, path = "state"): void {
  if (typeof a === "number") {
    if (!Object.is(a, b)) expect.fail(`${path}: ${a} vs ${String(b)}`);
    return;
  }
  if (Array.isArray(a)) {
    expect(Array.isArray(b), path).toBe(true);
    expect((b as unknown[]).length, path).toBe(a.length);
    a.forEach((v, i) => sameBits(v, (b as unknown[])[i], `${path}[${i}]`));
    return;
  }
  if (a && typeof a === "object") {
    expect(Object.keys(b as object).sort(), path).toEqual(Object.keys(a).sort());
    for (const k of Object.keys(a))
      sameBits(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        `${path}.${k}`,
      );
    return;
  }
  expect(b, path).toEqual(a);
}

function expectInputError(f: () => unknown, arg: string, msg?: RegExp): Promise<void>;
async function expectInputError(f: () => unknown, arg: string, msg?: RegExp) {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(NRCInputError);
    expect((e as NRCInputError).arg).toBe(arg);
    if (msg) expect((e as Error).message).toMatch(msg);
    return;
  }
  expect.fail(`expected an NRCInputError naming ${arg}`);
}

describe("sha256", () => {
  it("matches node:crypto on every length around the block boundaries and on 1 MB", () => {
    const rng = makeRng(3);
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 1 << 20]) {
      const b = Uint8Array.from({ length: n }, () => Math.floor(rng.uniform() * 256));
      expect(sha256Hex(b), `length ${n}`).toBe(createHash("sha256").update(b).digest("hex"));
    }
  });
});

describe("toSafetensors / fromSafetensors", () => {
  for (const nrc4 of ["tsqr", "rescan"] as const)
    it(`round-trips bit-exactly (${nrc4})`, async () => {
      const acc = await filled({ nrc4, t: 2, r: 1, modelMSE: 0.5, collapseThreshold: 0.02 });
      const bytes = acc.toSafetensors();
      const back = await NRCAccumulator.fromSafetensors(bytes);
      sameBits(back.toJSON(), acc.toJSON());
      expect(Buffer.from(back.toSafetensors()).equals(Buffer.from(bytes))).toBe(true);
      if (nrc4 === "tsqr") {
        const [a, b] = [await acc.finalize(), await back.finalize()];
        sameBits(JSON.parse(JSON.stringify(b)), JSON.parse(JSON.stringify(a)));
        expect(a.layers[2].nrc3).not.toBeNull(); // the weights came back from the file
      }
    });

  it("keeps M2_H exactly symmetric, so one triangle is stored", async () => {
    const s = (await filled()).toJSON();
    for (const l of s.layers!)
      for (let i = 0; i < l.d; i++)
        for (let j = 0; j < i; j++) expect(l.m2H[i * l.d + j]).toBe(l.m2H[j * l.d + i]);
  });

  it("an empty accumulator round-trips", async () => {
    const acc = createNRCAccumulator({ weights, t: 2 });
    const back = await NRCAccumulator.fromSafetensors(acc.toSafetensors());
    expect(back.samples).toBe(0);
    await back.merge(await filled({ t: 2 }));
    expect(back.samples).toBe(240);
  });

  it("a 512-wide layer takes ~2 MB (JSON ~3.7× more)", async () => {
    const rng = makeRng(9);
    const n = 600;
    const d = 512;
    const h = Float64Array.from({ length: n * d }, () => rng.normal());
    const y = Float64Array.from({ length: n * 3 }, () => rng.normal());
    const acc = createNRCAccumulator();
    await acc.add({
      features: [{ rows: n, cols: d, data: h }],
      targets: { rows: n, cols: 3, data: y },
    });
    const bytes = acc.toSafetensors().length;
    // (512·513/2 + 516·517/2 + 512 + 3 + 512·3 + 9)·8 bytes of data plus the header.
    const data = ((512 * 513) / 2 + (516 * 517) / 2 + 512 + 3 + 1536 + 9) * 8;
    expect(bytes).toBeGreaterThanOrEqual(data);
    expect(bytes).toBeLessThan(data + 4096);
    expect(bytes / 2 ** 20).toBeLessThan(2.1);
    expect(JSON.stringify(acc.toJSON()).length).toBeGreaterThan(3 * bytes);
  });

  it("the node helpers write and read a file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nrc-state-"));
    try {
      const acc = await filled();
      const p = join(dir, "a.nrc.safetensors");
      const n = await writeStateFile(p, acc);
      expect(readFileSync(p).length).toBe(n);
      sameBits((await readStateFile(p)).toJSON(), acc.toJSON());
      await expectInputError(() => readStateFile(join(dir, "none")), "path", /no such file/);
      await expectInputError(
        () => writeStateFile(join(dir, "no", "x"), acc),
        "path",
        /cannot write/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("refusals, naming the field", () => {
  it("merge refuses other t, r, preset, nrc4, widths, weights", async () => {
    const base = await filled({ t: 2 });
    await expectInputError(async () => base.merge(await filled({ t: 3 })), "t", /t = 3.*t = 2/);
    await expectInputError(async () => base.merge(await filled({ t: 2, r: 1 })), "r");
    await expectInputError(
      async () => base.merge(await filled({ t: 2, preset: "reference-code" })),
      "preset",
    );
    await expectInputError(async () => base.merge(await filled({ t: 2, nrc4: "rescan" })), "nrc4");
    const w2 = weights.map((w, i) =>
      i === 1 ? { ...w, data: w.data.map((v, j) => (j === 0 ? v + 1e-12 : v)) } : w,
    );
    await expectInputError(
      async () => base.merge(await filled({ t: 2, weights: w2 })),
      "weights[1]",
    );
    const narrow = createNRCAccumulator({ t: 2 });
    await narrow.add({
      features: [
        rowsOf(net.layers[0].features, 0, 10),
        rowsOf(net.targets, 0, 10),
        rowsOf(net.targets, 0, 10),
      ],
      targets: rowsOf(net.targets, 0, 10),
    });
    await expectInputError(
      async () => (await filled({ t: 2, weights: undefined })).merge(narrow),
      "widths[1]",
    );
  });

  it("fromSafetensors refuses other weights than the state's", async () => {
    const bytes = (await filled()).toSafetensors();
    const w0 = weights.map((w, i) => (i === 0 ? { ...w, data: w.data.map((v) => v * 2) } : w));
    await expectInputError(
      () => NRCAccumulator.fromSafetensors(bytes, { weights: w0 }),
      "weights[0]",
    );
    const same = await NRCAccumulator.fromSafetensors(bytes, { weights });
    expect(same.samples).toBe(240);
  });

  async function snapshot(): Promise<StateSnapshot> {
    return decodeState("test", (await filled()).toSafetensors());
  }
  const load = (s: StateSnapshot) => () => NRCAccumulator.fromSafetensors(encodeState(s));

  it("checks values: finite, symmetric, diagonal ≥ 0, Cauchy–Schwarz, counts", async () => {
    let s = await snapshot();
    s.layers![1].meanH[3] = NaN;
    await expectInputError(load(s), "layers[1].mean_h", /finite/);
    s = await snapshot();
    s.layers![0].m2Y[1] += 1;
    await expectInputError(load(s), "layers[0].m2_y", /symmetric/);
    s = await snapshot();
    s.layers![2].m2H[0] = -1;
    await expectInputError(load(s), "layers[2].m2_h", /must be ≥ 0/);
    s = await snapshot();
    s.layers![0].cross[0] = 1e6;
    await expectInputError(load(s), "layers[0].cross", /Cauchy/);
    s = await snapshot();
    s.samples = 241;
    await expectInputError(load(s), "layers[0].count", /must equal samples/);
    s = await snapshot();
    s.layers![1].count = 100;
    await expectInputError(load(s), "layers[1].r", /belong to 100 samples/);
  });

  it("checks the container and header", async () => {
    const good = (await filled()).toSafetensors();
    await expectInputError(
      () => NRCAccumulator.fromSafetensors(good.subarray(0, good.length - 8)),
      "bytes",
    );
    const plain = encodeSafetensors([
      { name: "x", dtype: "F64", shape: [1], data: new Float64Array(1) },
    ]);
    await expectInputError(
      () => NRCAccumulator.fromSafetensors(plain),
      "bytes",
      /not a deep-nrc state/,
    );
    const withHeader = (edit: (h: Record<string, unknown>) => void, resum = true) => {
      const n = Number(new DataView(good.buffer, good.byteOffset).getBigUint64(0, true));
      const outer = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + n)));
      const h = JSON.parse(outer.__metadata__["deep-nrc"]);
      edit(h);
      outer.__metadata__["deep-nrc"] = JSON.stringify(h);
      if (resum) outer.__metadata__["deep-nrc.sha256"] = sha256Hex(Buffer.from(JSON.stringify(h)));
      const json = new TextEncoder().encode(JSON.stringify(outer));
      const out = new Uint8Array(8 + json.length + good.length - 8 - n);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      out.set(good.subarray(8 + n), 8 + json.length);
      return () => NRCAccumulator.fromSafetensors(out);
    };
    await expectInputError(
      withHeader((h) => (h.version = 3)),
      "version",
      /newer/,
    );
    // An edited header whose checksum was not updated.
    await expectInputError(
      withHeader((h) => (h.samples = 241), false),
      "header",
      /does not match its checksum/,
    );
    await expectInputError(
      withHeader((h) => ((h.options as { t: number }).t = 0)),
      "options.t",
    );
    await expectInputError(
      withHeader((h) => ((h.options as { preset: string }).preset = "x")),
      "options.preset",
    );
    await expectInputError(
      withHeader((h) => {
        (h.layers as { d: number }[])[1].d = 13;
        h.weights = null;
      }),
      "layers.1.m2_h",
      /shape/,
    );
    // A flipped bit in a stored weight.
    const bad = Uint8Array.from(good);
    bad[bad.length - 3] ^= 1;
    await expectInputError(() => NRCAccumulator.fromSafetensors(bad), "weights[2]", /sha256/);
  });
});

describe("browser safety", () => {
  it("the state format (used by the core accumulator) reaches no Node built-in", async () => {
    const { dirname, resolve } = await import("node:path");
    const seen = new Map<string, string[]>();
    const dir = join(import.meta.dirname, "..", "..", "src", "state");
    const stack = readdirSync(dir)
      .filter((f) => f.endsWith(".ts"))
      .map((f) => join(dir, f));
    while (stack.length) {
      const file = stack.pop()!;
      if (seen.has(file)) continue;
      const text = readFileSync(file, "utf8");
      const specs = [...text.matchAll(/(?:import|export)[^;]*?from\s+"([^"]+)"/g)].map((m) => m[1]);
      seen.set(file, specs);
      for (const s of specs)
        if (s.startsWith(".")) stack.push(resolve(dirname(file), s.replace(/\.js$/, ".ts")));
    }
    expect(seen.size).toBeGreaterThan(8);
    for (const [file, specs] of seen)
      expect(
        specs.filter((s) => s.startsWith("node:")),
        file,
      ).toEqual([]);
    const nodeFile = readFileSync(
      join(import.meta.dirname, "..", "..", "src", "node", "state-file.ts"),
      "utf8",
    );
    expect(nodeFile).toMatch(/from "node:fs\/promises"/);
  });
});

describe("weights given at load", () => {
  it("fill layers the state has none for (NRC3 appears), and must match the others", async () => {
    const acc = await filled({ weights: [weights[0], null, null] });
    const bytes = acc.toSafetensors();
    const plain = await (await NRCAccumulator.fromSafetensors(bytes)).finalize();
    expect(plain.layers[1].nrc3).toBeNull();
    const withW = await (await NRCAccumulator.fromSafetensors(bytes, { weights })).finalize();
    expect(withW.layers[1].nrc3).not.toBeNull();
    // Another 12×12 weight for layer 0, where the state recorded one.
    await expectInputError(
      () => NRCAccumulator.fromSafetensors(bytes, { weights: [weights[1], null, null] }),
      "weights[0]",
    );
  });
});
