/**
 * External data files (src/onnx/external-data.ts): read by byte range (a 3 GiB sparse file, of
 * which only the weight's 48 bytes are read), and refused — with the real cause — when the
 * location leaves the model's folder, is a symbolic link, is missing, is not a file, or is too
 * short. Fixtures: scripts/make_external_data_fixtures.py (tiny Gemm models).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  closeSync,
  copyFileSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureONNX, measureONNX } from "../../src/onnx/index.js";

const FIX = join(import.meta.dirname, "..", "fixtures", "onnx-external");
// W = (arange(12) − 5.5) / 4 as 3×4 (out×in, Gemm transB = 1), float32 little-endian.
const W = Float32Array.from({ length: 12 }, (_, i) => (i - 5.5) / 4);
const W_BYTES = new Uint8Array(W.buffer);
const N = 16;
const x = Float32Array.from({ length: N * 4 }, (_, i) => Math.sin(i * 1.7) * 2);
const y = Float64Array.from({ length: N * 2 }, (_, i) => Math.cos(i * 0.9));
const io = { inputs: { data: x, shape: [N, 4] }, targets: { rows: N, cols: 2, data: y } };

let root: string;
/** A fresh folder holding `model` as model.onnx (+ a data file written by `data`). */
function folder(model: string, data?: (dir: string) => void): string {
  const dir = mkdtempSync(join(root, `${model}-`));
  copyFileSync(join(FIX, `${model}.onnx`), join(dir, "model.onnx"));
  data?.(dir);
  return join(dir, "model.onnx");
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "deep-nrc-ext-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("external data read by byte range", () => {
  it("a 3 GiB sparse file: only the weight's bytes are read (onnxruntime-node runs it)", async () => {
    const path = folder("big", (dir) => {
      const fd = openSync(join(dir, "big.data"), "w");
      ftruncateSync(fd, 3 * 2 ** 30 + 4096);
      writeSync(fd, W_BYTES, 0, 48, 3 * 2 ** 30);
      closeSync(fd);
    });
    const cap = await captureONNX({ model: path, ...io, runtime: "onnxruntime-node" });
    try {
      expect(cap.runtime).toMatch(/^onnxruntime-node/);
      const w = cap.weights[0] as { rows: number; cols: number; data: Float64Array };
      expect([w.rows, w.cols]).toEqual([3, 4]);
      expect(Array.from(w.data)).toEqual(Array.from(W));
    } finally {
      await cap.close();
    }
    const rep = await measureONNX({ model: path, ...io, runtime: "onnxruntime-node" });
    expect(rep.model.runtime).toMatch(/^onnxruntime-node/);
    expect(rep.layers.map((l) => l.name)).toEqual(["fc1", "fc2"]);
    expect(rep.layers[0].stableRankWeight).toBeGreaterThan(1);
    // onnxruntime-web would need the file in WebAssembly memory: refused, saying why.
    await expect(measureONNX({ model: path, ...io, runtime: "onnxruntime-web" })).rejects.toThrow(
      /'big\.data' holds 3\.0 GiB; onnxruntime-web keeps external data in WebAssembly memory.*onnxruntime-node/,
    );
  });

  it("a small file: both runtimes measure the same", async () => {
    const path = folder("small", (dir) => writeFileSync(join(dir, "small.data"), W_BYTES));
    const a = await measureONNX({ model: path, ...io, runtime: "onnxruntime-node" });
    const b = await measureONNX({ model: path, ...io, runtime: "onnxruntime-web" });
    expect(b.model.runtime).toMatch(/^onnxruntime-web/);
    for (let i = 0; i < 2; i++)
      for (const k of ["nrc1", "nrc2", "nrc3", "stableRankWeight"] as const)
        expect(Math.abs(a.layers[i][k]! - b.layers[i][k]!)).toBeLessThanOrEqual(
          1e-5 * Math.abs(b.layers[i][k]!),
        );
  });
});

describe("external data refused, naming the cause", () => {
  const fails = (path: string, re: RegExp) =>
    expect(measureONNX({ model: path, ...io })).rejects.toThrow(re);

  it("a location that leaves the folder ('..', absolute)", async () => {
    await fails(
      folder("escape"),
      /measureONNX: external data location '\.\.\/outside\.data' leaves the model's folder/,
    );
    await fails(
      folder("abs"),
      /external data location '\/etc\/hostname' leaves the model's folder/,
    );
  });

  it("a symbolic link, even to a file that exists", async () => {
    const outside = join(root, "outside.data");
    writeFileSync(outside, W_BYTES);
    const path = folder("small", (dir) => symlinkSync(outside, join(dir, "small.data")));
    await fails(
      path,
      /the external data file 'small\.data' is a symbolic link \(to .*outside\.data\); deep-nrc does not follow links/,
    );
  });

  it("a missing file, a folder, a file too short", async () => {
    await fails(
      folder("small"),
      /'small\.data', which does not exist \(looked for .*small\.data\)/,
    );
    await fails(
      folder("small", (dir) => mkdirSync(join(dir, "small.data"))),
      /the external data location 'small\.data' .* is not a regular file/,
    );
    await fails(
      folder("small", (dir) => writeFileSync(join(dir, "small.data"), W_BYTES.subarray(0, 10))),
      /the external data file 'small\.data' holds 10 bytes; a tensor reads bytes 0–48/,
    );
  });
});
