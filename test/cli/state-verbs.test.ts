/**
 * `deep-nrc accumulate | merge | report`: shards of the CLI fixtures merged back give numpy's
 * one-pass numbers (scripts/make_io_fixtures.py), and bad input gets the exit codes and one-line
 * messages `measure` gives.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import type { NRCReport } from "../../src/engine/report.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "io", "cli");
const NET = join(FIX, "net.safetensors");
const expected = JSON.parse(readFileSync(join(FIX, "expected.json"), "utf8")) as Record<
  string,
  { t: number; samples: number; layers: Record<string, number | null>[] }
>;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "deep-nrc-state-cli-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function run(args: string[]) {
  let out = "";
  let err = "";
  const code = await main(args, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { isTTY: false, write: (s: string) => (err += s) },
    env: {},
  });
  return { code, out, err };
}

const ALL = ["nrc1", "nrc2", "nrc3", "nrc4", "stableRankFeatures", "stableRankWeight"];

function check(
  rep: NRCReport,
  exp: (typeof expected)[string],
  what: string,
  samples = 64,
  keys = ALL,
): void {
  expect(rep.samples).toBe(samples);
  exp.layers.forEach((e, k) => {
    for (const key of keys) {
      const want = e[key] as number | null;
      const got = rep.layers[k][key as "nrc1"] as number | null;
      if (want === null) expect(got, `${what} layer ${k} ${key}`).toBeNull();
      else
        expect(
          Math.abs((got as number) - want),
          `${what} layer ${k} ${key}: ${got} vs ${want}`,
        ).toBeLessThanOrEqual(1e-9 * Math.abs(want) + 1e-13);
    }
  });
}

describe("shards → merge → the one-pass numbers", () => {
  it.each([
    ["paper", "f64/paper", NET, 3],
    ["reference-code", "f64/reference-code", NET, 5],
    ["float32 file", "f32/paper", join(FIX, "net_f32.safetensors"), 4],
  ])("%s, --shard k/n", async (_l, key, file, n) => {
    const preset = key.includes("reference") ? ["--preset", "reference-code"] : [];
    const states: string[] = [];
    for (let k = 0; k < n; k++) {
      const s = join(tmp, `${key.replace(/\//g, "_")}-${k}.nrc.safetensors`);
      const r = await run([
        "accumulate",
        file,
        "--shard",
        `${k}/${n}`,
        "--state",
        s,
        "--batch",
        "7",
        "--backend",
        "js",
        "-q",
        ...preset,
      ]);
      expect(r.code, r.err).toBe(0);
      expect(r.out + r.err).toBe("");
      states.push(s);
    }
    const merged = join(tmp, `${key.replace(/\//g, "_")}-merged.nrc.safetensors`);
    const m = await run([
      "merge",
      ...states.reverse(),
      "--state",
      merged,
      "--json",
      "-",
      "--backend",
      "js",
    ]);
    expect(m.code, m.err).toBe(0);
    expect(m.err).toMatch(/^wrote .*merged\.nrc\.safetensors: \d+ states, 64 samples/);
    check(JSON.parse(m.out), expected[key], `${key} merged`);
    const r = await run(["report", merged, "--json", "-", "--backend", "js"]);
    expect(r.code, r.err).toBe(0);
    check(JSON.parse(r.out), expected[key], `${key} report`);
  });

  it("--rows and several paths in one shard; merge prints the table", async () => {
    const a = join(tmp, "rows-a.nrc.safetensors");
    const b = join(tmp, "rows-b.nrc.safetensors");
    expect((await run(["accumulate", NET, "--rows", "0:40", "--state", a, "-q"])).code).toBe(0);
    expect((await run(["accumulate", NET, "--rows", "40:64", "--state", b, "-q"])).code).toBe(0);
    const m = await run(["merge", a, b, "-q"]);
    expect(m.code, m.err).toBe(0);
    expect(m.out).toMatch(/first collapsed layer/);
    // The same file twice in one shard: 128 samples, each twice.
    const c = join(tmp, "twice.nrc.safetensors");
    expect((await run(["accumulate", NET, join(FIX, "npy"), "--state", c, "-q"])).code).toBe(0);
    const r = await run(["report", c, "--json", "-"]);
    const rep = JSON.parse(r.out) as NRCReport;
    expect(rep.samples).toBe(128);
    // Duplicating every sample leaves the covariance-based metrics unchanged.
    check(rep, expected["f64/paper"], "duplicated", 128, [
      "nrc1",
      "nrc2",
      "nrc3",
      "stableRankFeatures",
    ]);
  });

  it("conv layers", async () => {
    const s = [0, 1].map((k) => join(tmp, `conv-${k}.nrc.safetensors`));
    for (let k = 0; k < 2; k++)
      expect(
        (
          await run([
            "accumulate",
            join(FIX, "conv.safetensors"),
            "--shard",
            `${k}/2`,
            "--state",
            s[k],
            "-q",
            "--backend",
            "js",
          ])
        ).code,
      ).toBe(0);
    const m = await run(["merge", ...s, "--json", "-", "--backend", "js"]);
    const rep = JSON.parse(m.out) as NRCReport;
    const exp = (expected.conv as unknown as Record<string, Record<string, number | null>[]>).paper;
    check(rep, { t: 2, samples: 40, layers: exp }, "conv", 40);
  });
});

describe("shards of any size, duplicates, options as in effect (issue 21)", () => {
  it("1-row and empty shards (--rows a:a, --shard with more parts than samples) merge exactly", async () => {
    const parts = ["0:1", "1:1", "1:2", "2:40", "40:40", "40:63", "63:64"];
    const states = parts.map((_, k) => join(tmp, `tiny-${k}.nrc.safetensors`));
    for (let k = 0; k < parts.length; k++) {
      const r = await run(["accumulate", NET, "--rows", parts[k], "--state", states[k], "-q"]);
      expect(r.code, `${parts[k]}: ${r.err}`).toBe(0);
    }
    const one = await run(["report", states[0]]);
    expect(one.code).toBe(1);
    expect(one.err).toMatch(/need at least 2 samples; got 1/);
    const empty = await run(["report", states[1]]);
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/no batch was added/);
    const m = await run(["merge", ...states, "--json", "-", "--backend", "js"]);
    expect(m.code, m.err).toBe(0);
    check(JSON.parse(m.out), expected["f64/paper"], "tiny shards merged");
    // 70 shards of 64 samples: six are empty, the rest hold one sample each.
    const many = Array.from({ length: 70 }, (_, k) => join(tmp, `many-${k}.nrc.safetensors`));
    for (let k = 0; k < 70; k++)
      expect(
        (await run(["accumulate", NET, "--shard", `${k}/70`, "--state", many[k], "-q"])).code,
      ).toBe(0);
    const mm = await run(["merge", ...many, "--json", "-", "--backend", "js"]);
    expect(mm.code, mm.err).toBe(0);
    check(JSON.parse(mm.out), expected["f64/paper"], "70 shards merged");
  });

  it("merging a state with itself is refused, naming both files; --allow-duplicates allows it", async () => {
    const a = join(tmp, "dup-a.nrc.safetensors");
    const b = join(tmp, "dup-b.nrc.safetensors");
    const ab = join(tmp, "dup-ab.nrc.safetensors");
    expect((await run(["accumulate", NET, "--rows", "0:30", "--state", a, "-q"])).code).toBe(0);
    expect((await run(["accumulate", NET, "--rows", "30:64", "--state", b, "-q"])).code).toBe(0);
    const self = await run(["merge", a, a]);
    expect(self.code).toBe(1);
    expect(self.err).toMatch(
      /^deep-nrc merge: .*dup-a\.nrc\.safetensors and .*dup-a\.nrc\.safetensors both hold the samples of state [0-9a-f]{32} \(the same state twice\).*--allow-duplicates/,
    );
    expect(self.err.trimEnd().split("\n")).toHaveLength(1);
    expect((await run(["merge", a, b, "--state", ab, "-q"])).code).toBe(0);
    const again = await run(["merge", ab, b]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/dup-ab\.nrc\.safetensors and .*dup-b\.nrc\.safetensors both hold/);
    const allowed = await run(["merge", a, a, "--allow-duplicates", "--json", "-", "-q"]);
    expect(allowed.code, allowed.err).toBe(0);
    expect((JSON.parse(allowed.out) as NRCReport).samples).toBe(60);
  });

  it("-t 3 and the default t (3 target columns) merge; -t 2 does not", async () => {
    const a = join(tmp, "teff-a.nrc.safetensors");
    const b = join(tmp, "teff-b.nrc.safetensors");
    const c = join(tmp, "teff-c.nrc.safetensors");
    const t = String(expected["f64/paper"].t);
    expect(
      (await run(["accumulate", NET, "--rows", "0:30", "--state", a, "-q", "-t", t])).code,
    ).toBe(0);
    expect((await run(["accumulate", NET, "--rows", "30:64", "--state", b, "-q"])).code).toBe(0);
    expect(
      (await run(["accumulate", NET, "--rows", "30:64", "--state", c, "-q", "-t", "1"])).code,
    ).toBe(0);
    const m = await run(["merge", a, b, "--json", "-", "--backend", "js"]);
    expect(m.code, m.err).toBe(0);
    check(JSON.parse(m.out), expected["f64/paper"], "t as in effect");
    const bad = await run(["merge", b, c]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/t = 1, this state with t = \d+ \(the default: its targets' width\)/);
  });
});

describe("errors and exit codes", () => {
  it("usage errors exit 2", async () => {
    for (const args of [
      ["accumulate", NET],
      ["accumulate", "--state", "x"],
      ["accumulate", NET, "--state", "x", "--shard", "3/3"],
      ["accumulate", NET, "--state", "x", "--rows", "5:2"],
      ["accumulate", NET, "--state", "x", "--rows", "0:65"],
      ["accumulate", NET, "--state", "x", "--shard", "0/2", "--rows", "0:3"],
      ["accumulate", NET, "--state", "x", "--bogus"],
      ["accumulate", NET, "--state", "x", "--debiased"],
      ["merge"],
      ["report"],
      ["report", "a", "b"],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toMatch(/^deep-nrc: .*\nTry 'deep-nrc --help'\.\n$/);
    }
    const h = await run(["accumulate", "--help"]);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/--shard <k\/n>/);
  });

  it("bad files exit 1 with one line naming what is wrong", async () => {
    const a = join(tmp, "t2.nrc.safetensors");
    const b = join(tmp, "t1.nrc.safetensors");
    expect((await run(["accumulate", NET, "--state", a, "-q"])).code).toBe(0);
    expect((await run(["accumulate", NET, "--state", b, "-q", "-t", "1"])).code).toBe(0);
    const m = await run(["merge", a, b]);
    expect(m.code).toBe(1);
    expect(m.err).toMatch(
      /^deep-nrc merge: .*t1\.nrc\.safetensors cannot be merged with .*t2\.nrc\.safetensors: it was made with t = 1, this state with t = 2 \(the default: its targets' width\)/,
    );
    expect(m.err.trimEnd().split("\n")).toHaveLength(1);
    const missing = await run(["report", join(tmp, "nope.nrc.safetensors")]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(
      /^deep-nrc: readStateFile: cannot read .*nope\.nrc\.safetensors: no such file/,
    );
    const notState = await run(["report", NET]);
    expect(notState.code).toBe(1);
    expect(notState.err).toMatch(/not a deep-nrc state/);
    const trunc = join(tmp, "trunc.nrc.safetensors");
    writeFileSync(trunc, readFileSync(a).subarray(0, 300));
    expect((await run(["merge", a, trunc])).code).toBe(1);
    const noDir = await run(["accumulate", NET, "--state", join(tmp, "no", "dir", "s"), "-q"]);
    expect(noDir.code).toBe(1);
    expect(noDir.err).toMatch(/^deep-nrc: --state: cannot write/);
  });
});

describe("--debiased (reference-code)", () => {
  it("shards merge to measureNRC's debiased NRC2", async () => {
    const { measureNRC } = await import("../../src/index.js");
    const { openNetwork, loadLayers } = await import("../../src/cli/load.js");
    const net = await openNetwork(NET);
    const { layers, targets } = await loadLayers(net, {});
    await net.close();
    const want = await measureNRC({ layers, targets, preset: "reference-code", debiased: true });
    const s = [0, 1, 2].map((k) => join(tmp, `deb-${k}.nrc.safetensors`));
    for (let k = 0; k < 3; k++) {
      const r = await run([
        "accumulate",
        NET,
        "--shard",
        `${k}/3`,
        "--state",
        s[k],
        "-q",
        "--preset",
        "reference-code",
        "--debiased",
      ]);
      expect(r.code, r.err).toBe(0);
    }
    const m = await run(["merge", ...s, "--json", "-"]);
    const rep = JSON.parse(m.out) as NRCReport;
    want.layers.forEach((l, i) =>
      expect(Math.abs(rep.layers[i].nrc2! - l.nrc2!)).toBeLessThanOrEqual(
        1e-9 * Math.abs(l.nrc2!) + 1e-13,
      ),
    );
  });
});
