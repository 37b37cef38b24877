/**
 * `deep-nrc` end to end: in-process through `main()` (fast) for the numbers and messages, and a
 * few real child processes for exit codes, stdout/stderr separation and the absence of stack
 * traces. Expected metrics come from numpy/scipy (scripts/make_io_fixtures.py), not from us.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.js";
import type { NRCReport } from "../../src/engine/report.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "io", "cli");
const ROOT = join(import.meta.dirname, "..", "..");
const NET = join(FIX, "net.safetensors");

interface LayerExp {
  nrc1: number;
  nrc2: number;
  nrc3: number | null;
  nrc4: number;
  stableRankFeatures: number;
  stableRankWeight: number | null;
  topEigenvalues: number[];
}
interface RunExp {
  t: number;
  samples: number;
  targetStableRank: number;
  layers: LayerExp[];
}
const expected = JSON.parse(readFileSync(join(FIX, "expected.json"), "utf8")) as Record<
  string,
  unknown
>;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "deep-nrc-cli-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs main() in-process, capturing stdout/stderr. */
async function run(args: string[], opts: { tty?: boolean } = {}) {
  let out = "";
  let err = "";
  const code = await main(args, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { isTTY: opts.tty ?? false, columns: 100, write: (s: string) => (err += s) },
    env: {},
  });
  return { code, out, err };
}

/** |got − want| ≤ 1e-9·|want| + 1e-13 (the core's float64 agreement; absolute floor for ~0). */
function close(got: number | null, want: number | null, what: string): void {
  if (want === null) {
    expect(got, what).toBeNull();
    return;
  }
  expect(got, what).not.toBeNull();
  const tol = 1e-9 * Math.abs(want) + 1e-13;
  if (!(Math.abs((got as number) - want) <= tol))
    expect.fail(
      `${what}: got ${got}, expected ${want} (|diff| ${Math.abs((got as number) - want)} > ${tol})`,
    );
}

function checkReport(rep: NRCReport, exp: RunExp, label: string): void {
  expect(rep.t).toBe(exp.t);
  expect(rep.samples).toBe(exp.samples);
  close(rep.targetStableRank, exp.targetStableRank, `${label} targetStableRank`);
  expect(rep.layers).toHaveLength(exp.layers.length);
  exp.layers.forEach((e, k) => {
    const l = rep.layers[k];
    const w = `${label} layer ${k}`;
    expect(l.degenerate, w).toBeNull();
    close(l.nrc1, e.nrc1, `${w} nrc1`);
    close(l.nrc2, e.nrc2, `${w} nrc2`);
    close(l.nrc3, e.nrc3, `${w} nrc3`);
    close(l.nrc4, e.nrc4, `${w} nrc4`);
    close(l.stableRankFeatures, e.stableRankFeatures, `${w} stableRankFeatures`);
    close(l.stableRankWeight, e.stableRankWeight, `${w} stableRankWeight`);
    e.topEigenvalues.forEach((v, i) => close(l.topEigenvalues[i], v, `${w} λ${i + 1}`));
  });
}

/** The SPEC's rule, applied to numpy's NRC1 values: start of the longest collapsed suffix. */
function firstCollapsed(nrc1: number[], threshold: number): number | null {
  let first: number | null = null;
  for (let k = nrc1.length - 1; k >= 0 && nrc1[k] <= threshold; k--) first = k;
  return first;
}

describe("deep-nrc measure: numbers against numpy/scipy", () => {
  const cases: [string, string, string[]][] = [
    ["float64 safetensors, paper", "f64/paper", [NET]],
    [
      "float64 safetensors, reference-code",
      "f64/reference-code",
      [NET, "--preset", "reference-code"],
    ],
    ["float32 safetensors, paper", "f32/paper", [join(FIX, "net_f32.safetensors")]],
    [
      "float32 safetensors, reference-code",
      "f32/reference-code",
      [join(FIX, "net_f32.safetensors"), "--preset", "reference-code"],
    ],
    ["npy folder (big-endian, Fortran-order, v2 files), paper", "f64/paper", [join(FIX, "npy")]],
    ["first 32 samples", "f64/paper/samples32", [NET, "--samples", "32"]],
  ];
  it.each(cases)("%s", async (_label, key, args) => {
    const json = join(tmp, `${key.replace(/\//g, "_")}.json`);
    const r = await run(["measure", ...args, "--backend", "js", "--json", json, "-q"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const rep = JSON.parse(readFileSync(json, "utf8")) as NRCReport;
    checkReport(rep, expected[key] as RunExp, key);
    expect(rep.backend).toBe("js");
    expect(rep.preset).toBe(key.includes("reference-code") ? "reference-code" : "paper");
  });

  const streamed: [string, string, string[]][] = [
    ["float64, batches of 10", "f64/paper", [NET, "--batch", "10"]],
    ["float64, batches of 21 (last batch of 1 folded in)", "f64/paper", [NET, "--batch", "21"]],
    [
      "float32, reference-code, batches of 7",
      "f32/reference-code",
      [join(FIX, "net_f32.safetensors"), "--preset", "reference-code", "--batch", "7"],
    ],
    ["npy folder, batches of 16", "f64/paper", [join(FIX, "npy"), "--batch", "16"]],
    [
      "first 32 samples, batches of 5",
      "f64/paper/samples32",
      [NET, "--samples", "32", "--batch", "5"],
    ],
  ];
  it.each(streamed)("streaming (--batch): %s", async (_label, key, args) => {
    const r = await run(["measure", ...args, "--backend", "js", "--json", "-"]);
    expect(r.code, r.err).toBe(0);
    checkReport(JSON.parse(r.out) as NRCReport, expected[key] as RunExp, `${key} streamed`);
  });

  it.each(["paper", "reference-code"])("streaming conv layers, %s", async (preset) => {
    const r = await run([
      "measure",
      join(FIX, "conv.safetensors"),
      "--preset",
      preset,
      "--batch",
      "6",
      "--json",
      "-",
      "--backend",
      "js",
    ]);
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out) as NRCReport;
    const exp = (expected.conv as Record<string, LayerExp[]>)[preset];
    checkReport(
      rep,
      { t: 2, samples: 40, targetStableRank: rep.targetStableRank, layers: exp },
      `conv ${preset} streamed`,
    );
  });

  it("-r, --model-mse and --threshold", async () => {
    const exp = expected["f64/paper"] as RunExp;
    const intr = expected["f64/paper/r1"] as {
      r: number;
      nrc1: number;
      nrc3: number;
      bottomAlignment: number;
    }[];
    const r = await run([
      "measure",
      NET,
      "-r",
      "1",
      "--model-mse",
      "0.002",
      "--threshold",
      "1e-6",
      "--json",
      "-",
      "--backend",
      "js",
    ]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as NRCReport;
    expect(rep.r).toBe(1);
    expect(rep.modelMSE).toBe(0.002);
    expect(rep.collapseThreshold).toBe(1e-6);
    expect(rep.firstCollapsedLayer).toBe(
      firstCollapsed(
        exp.layers.map((l) => l.nrc1),
        1e-6,
      ),
    );
    expect(rep.firstCollapsedLayer).toBe(2);
    rep.layers.forEach((l, k) => {
      close(l.nrc4OverModelMSE, exp.layers[k].nrc4 / 0.002, `layer ${k} nrc4/mse`);
      expect(l.intrinsic?.r).toBe(1);
      close(l.intrinsic!.nrc1, intr[k].nrc1, `layer ${k} nrc1@r`);
      close(l.intrinsic!.nrc3, intr[k].nrc3, `layer ${k} nrc3@r`);
      close(l.intrinsic!.bottomAlignment, intr[k].bottomAlignment, `layer ${k} bottom`);
    });
    // default threshold 0.01 (the library's): from numpy's NRC1 values
    const d = JSON.parse(
      (await run(["measure", NET, "--json", "-", "--backend", "js"])).out,
    ) as NRCReport;
    expect(d.firstCollapsedLayer).toBe(
      firstCollapsed(
        exp.layers.map((l) => l.nrc1),
        d.collapseThreshold,
      ),
    );
  });

  it("-t overrides the number of target columns", async () => {
    const rep = JSON.parse(
      (await run(["measure", NET, "-t", "1", "--json", "-", "--backend", "js"])).out,
    ) as NRCReport;
    expect(rep.t).toBe(1);
    expect(rep.targetDim).toBe(2);
  });

  it.each(["paper", "reference-code"])(
    "conv layers (N×C×h×w features, Cout×Cin×kh×kw filters), %s",
    async (preset) => {
      const r = await run([
        "measure",
        join(FIX, "conv.safetensors"),
        "--preset",
        preset,
        "--json",
        "-",
        "--backend",
        "js",
      ]);
      expect(r.code).toBe(0);
      const rep = JSON.parse(r.out) as NRCReport;
      expect(rep.layers[0].kind).toBe("conv");
      expect(rep.layers[0].samples).toBe(preset === "paper" ? 40 * 3 * 2 : 40);
      expect(rep.layers[0].features).toBe(5);
      expect(rep.layers[1].kind).toBe("dense");
      const exp = (expected.conv as Record<string, LayerExp[]>)[preset];
      checkReport(
        rep,
        { t: 2, samples: 40, targetStableRank: rep.targetStableRank, layers: exp },
        `conv ${preset}`,
      );
    },
  );

  it("the default backend (auto) agrees with numpy too", async () => {
    const r = await run(["measure", NET, "--json", "-"]);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as NRCReport;
    checkReport(rep, expected["f64/paper"] as RunExp, `auto (${rep.backend})`);
  });
});

describe("deep-nrc output", () => {
  it("prints the per-layer table on stdout", async () => {
    const r = await run(["measure", NET, "--backend", "js"]);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^preset paper, t = 2, N = 64, targets 2-dim .*backend js$/);
    expect(lines[1]).toMatch(
      /^layer\s+N×d\s+NRC1\s+NRC2\s+NRC3\s+NRC4\s+srank\(H\)\s+srank\(W\)\s+collapsed$/,
    );
    expect(lines.filter((l) => /^layer \d /.test(l))).toHaveLength(3);
    expect(lines[3]).toMatch(/^layer 0\s+64×10\s+0\.2450\s/); // numpy: NRC1 = 0.24500…
    expect(lines.at(-1)).toMatch(/^first collapsed layer \(NRC1 ≤ 0\.01\): layer 1 \(index 1\)$/);
  });

  it("--json - writes only JSON to stdout", async () => {
    const r = await run(["measure", NET, "--json", "-", "--backend", "js"]);
    expect(() => JSON.parse(r.out)).not.toThrow();
    expect(r.out).not.toMatch(/first collapsed layer/);
  });

  it("--report writes a self-contained HTML report", async () => {
    const html = join(tmp, "report.html");
    const r = await run(["measure", NET, "--backend", "js", "--report", html]);
    expect(r.code, r.err).toBe(0);
    const text = readFileSync(html, "utf8");
    expect(text).toMatch(/^<!doctype html>/i);
    expect((text.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(5);
    expect(text).not.toMatch(/<script/i);
    expect(r.err).toMatch(/wrote .*report\.html/);
  });

  it("progress bar only on a terminal, and not with --quiet", async () => {
    const tty = await run(["measure", NET, "--backend", "js"], { tty: true });
    expect(tty.err).toMatch(/\r\x1b\[2K.*100%/);
    expect(tty.err).toMatch(/reading (features|weight|targets)/);
    expect(tty.err).toMatch(/measuring layer/);
    const quiet = await run(["measure", NET, "--backend", "js", "-q"], { tty: true });
    expect(quiet.err).toBe("");
    const streamed = await run(["measure", NET, "--backend", "js", "--batch", "8"], { tty: true });
    expect(streamed.err).toMatch(/streaming samples \d+–\d+ of 64/);
    expect(streamed.out).toBe(tty.out.replace(/backend js/, "backend js"));
    const piped = await run(["measure", NET, "--backend", "js"], { tty: false });
    expect(piped.err).toBe("");
    expect(tty.out).toBe(piped.out);
  });

  it("demo runs the bundled network", async () => {
    const r = await run(["demo", "--backend", "js"]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/synthetic 6-layer network/);
    expect(r.out.split("\n").filter((l) => /^fc\d/.test(l))).toHaveLength(6);
    const q = await run(["demo", "--backend", "js", "-q", "--seed", "3", "--json", "-"]);
    expect(q.err).toBe("");
    expect((JSON.parse(q.out) as NRCReport).layers).toHaveLength(6);
  });

  it("--help and --version", async () => {
    const h = await run(["--help"]);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/Usage:\n {2}deep-nrc measure <file\.safetensors \| folder>/);
    expect(h.out).toMatch(/Examples:\n {2}deep-nrc demo\n {2}deep-nrc measure run\.safetensors/);
    expect((await run(["measure", "--help"])).code).toBe(0);
    const v = await run(["--version"]);
    expect(v.out).toMatch(/^\d+\.\d+\.\d+\n$/);
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.out).toMatch(/Usage:/);
  });
});

describe("deep-nrc errors: one line, the right exit code", () => {
  const oneLine = (s: string) =>
    expect(
      s
        .trimEnd()
        .split("\n")
        .filter((l) => !/^Try 'deep-nrc --help'/.test(l)),
    ).toHaveLength(1);

  it.each([
    [["measure"], /measure needs a path/],
    [["measure", "a", "b"], /measure takes one path; got 2/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["measure", NET, "--bogus"], /Unknown option '--bogus'/],
    [["measure", NET, "-t", "0"], /--t must be an integer ≥ 1; got '0'/],
    [["measure", NET, "-t", "2.5"], /--t must be an integer ≥ 1; got '2\.5'/],
    [["measure", NET, "--preset", "foo"], /--preset must be paper or reference-code; got 'foo'/],
    [
      ["measure", NET, "--backend", "cuda"],
      /--backend must be auto, wasm, js, webgpu, tfjs; got 'cuda'/,
    ],
    [["measure", NET, "--model-mse=-1"], /--model-mse must be a number ≥ 0; got '-1'/],
    [
      ["measure", NET, "--model-mse", "-1"],
      /argument is ambiguous\. .* use '--model-mse=-XYZ'\.$/m,
    ],
    [["measure", NET, "--threshold", "abc"], /--threshold must be a number in \[0, 1\]; got 'abc'/],
    [["measure", NET, "--samples", "1000"], /--samples 1000 is more than the 64 samples/],
    [["measure", NET, "--seed", "1"], /--seed applies to demo only/],
    [["measure", NET, "--batch", "1"], /--batch must be an integer ≥ 2; got '1'/],
    [["demo", "--batch", "100"], /--batch applies to measure only/],
  ])("usage error %j → exit 2", async (args, re) => {
    const r = await run(args as string[]);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toMatch(re);
    expect(r.err).toMatch(/Try 'deep-nrc --help'\.\n$/);
    oneLine(r.err);
  });

  const badFile = (name: string, bytes: Uint8Array | string) => {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    return p;
  };

  it("bad inputs → exit 1 with a clear message", async () => {
    const net = readFileSync(NET);
    const cases: [string, RegExp][] = [
      [
        join(tmp, "missing.safetensors"),
        /^deep-nrc measure: cannot open .*missing\.safetensors: no such file or directory$/,
      ],
      [
        badFile("trunc.safetensors", net.subarray(0, net.length - 10)),
        /^deep-nrc: readSafetensorsHeader: .*trunc\.safetensors: .*run past the end of the data buffer/,
      ],
      [
        badFile(
          "json.safetensors",
          Buffer.concat([Buffer.from([10, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{not json}")]),
        ),
        /not valid JSON/,
      ],
      [
        badFile("text.safetensors", "hello world, not a tensor file"),
        /^deep-nrc: readSafetensorsHeader: .*header length \d+ (runs past the end|exceeds the limit)/,
      ],
      [join(FIX, "..", "npy", "f8_le_C_1d.npy"), /is a single \.npy file; pass the folder/],
      [
        join(FIX, "..", "safetensors", "one.safetensors"),
        /has no tensor named features\.0 \(found: x\)/,
      ],
    ];
    for (const [path, re] of cases) {
      const r = await run(["measure", path]);
      expect(r.code, path).toBe(1);
      expect(r.out).toBe("");
      expect(r.err.trimEnd()).toMatch(re);
      oneLine(r.err);
    }
  });

  it("inconsistent folders → exit 1 naming the tensors", async () => {
    const mk = (name: string, files: Record<string, string>) => {
      const d = join(tmp, name);
      mkdirSync(d, { recursive: true });
      for (const [to, from] of Object.entries(files))
        copyFileSync(join(FIX, "npy", from), join(d, to));
      return d;
    };
    const cases: [string, RegExp][] = [
      [
        mk("gap", {
          "features.0.npy": "features.0.npy",
          "features.2.npy": "features.2.npy",
          "targets.npy": "targets.npy",
        }),
        /features\.1 is missing \(found features\.0, features\.2\)/,
      ],
      [mk("notargets", { "features.0.npy": "features.0.npy" }), /has no tensor named targets/],
      [
        mk("orphan", {
          "features.0.npy": "features.0.npy",
          "weight.1.npy": "weight.1.npy",
          "targets.npy": "targets.npy",
        }),
        /weight\.1 has no matching features\.1/,
      ],
      [
        mk("wrongw", {
          "features.0.npy": "features.0.npy",
          "weight.0.npy": "weight.1.npy",
          "targets.npy": "targets.npy",
        }),
        /weight\.0 \(shape 6×8\) reads 8 inputs but features\.0 has 10 features \(shape 64×10\)/,
      ],
      [
        mk("wrongn", { "features.0.npy": "features.0.npy", "targets.npy": "weight.0.npy" }),
        /features\.0 has 64 samples \(shape 64×10\) but targets has 8 \(shape 8×10\)/,
      ],
    ];
    for (const [path, re] of cases) {
      const r = await run(["measure", path]);
      expect(r.code, path).toBe(1);
      expect(r.err).toMatch(re);
      oneLine(r.err);
    }
    // An unrelated extra .npy is ignored with a note (not an error).
    const extra = mk("extra", {
      "features.0.npy": "features.0.npy",
      "targets.npy": "targets.npy",
      "inputs.npy": "targets.npy",
    });
    const r = await run(["measure", extra, "--backend", "js"]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(
      /note: ignoring 1 tensor\(s\) not named features\.k\/weight\.k\/targets: inputs/,
    );
  });

  it("an unwritable --json path → exit 1", async () => {
    const r = await run([
      "measure",
      NET,
      "--backend",
      "js",
      "--json",
      join(tmp, "no", "such", "dir", "r.json"),
    ]);
    expect(r.code).toBe(1);
    expect(r.err.trimEnd()).toMatch(
      /^deep-nrc: --json: cannot write .*r\.json: its folder does not exist$/,
    );
  });
});

describe("deep-nrc as a real process", () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src", "cli", "bin.ts"), ...args], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, DEEP_NRC_DEBUG: "" },
    });

  it("success: exit 0, table on stdout, nothing on a piped stderr", () => {
    const p = cli(["measure", NET, "--backend", "js"]);
    expect(p.status).toBe(0);
    expect(p.stdout).toMatch(/first collapsed layer/);
    expect(p.stderr).toBe("");
  });

  it("malformed file: exit 1, one line, no stack trace", () => {
    const bytes = readFileSync(NET);
    const bad = join(tmp, "bad-process.safetensors");
    writeFileSync(bad, bytes.subarray(0, 200));
    const p = cli(["measure", bad]);
    expect(p.status).toBe(1);
    expect(p.stdout).toBe("");
    expect(p.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(p.stderr).toMatch(/^deep-nrc: readSafetensorsHeader: /);
    expect(p.stderr).not.toMatch(/\n\s+at /);
  });

  it("usage error: exit 2", () => {
    const p = cli(["measure", NET, "--preset"]);
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(
      /^deep-nrc: Option '--preset <value>' argument missing\nTry 'deep-nrc --help'\.\n$/,
    );
  });
});
