/**
 * The ONNX fixtures whose reference is metrics, not tensors (scripts/onnx_transformer_fixtures.py,
 * scripts/onnx_cnn_fixtures.py): their .npy inputs and a comparison of a report's layer with the
 * float64 numpy metrics of PyTorch's hooked activations.
 */
import { expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readNpy } from "../../src/io/npy.js";
import { memorySource } from "../../src/io/source.js";
import type { LayerReport } from "../../src/engine/report.js";

export const ONNX_FIXTURES = join(import.meta.dirname, "..", "fixtures", "onnx");

/** One map's reference metrics (the module it came from, rows = tokens or pixels). */
export interface RefLayer {
  module: string;
  samples: number;
  features: number;
  nrc1: number;
  nrc2: number;
  nrc3: number;
  nrc4: number;
  /** NRC4 with float32's cutoff max(M, d)·ε₃₂ (equal to nrc4 where float32 noise does not matter). */
  nrc4Float32Rtol: number;
  stableRankFeatures: number;
  stableRankWeight: number;
}

export function readJSON<T>(name: string): T {
  return JSON.parse(readFileSync(join(ONNX_FIXTURES, name), "utf8")) as T;
}

export async function npy(name: string) {
  return readNpy(memorySource(new Uint8Array(readFileSync(join(ONNX_FIXTURES, name)))));
}

export const rel = (a: number, b: number) =>
  Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-300);

/** Expects `got[k]` within `tol` relative of `want[k]` for each key, naming the layer. */
export function expectMetrics<K extends keyof LayerReport>(
  got: LayerReport,
  want: Readonly<Record<K, number>>,
  keys: readonly K[],
  tol: number,
  what: string,
): void {
  for (const k of keys) {
    const g = got[k] as number;
    if (process.env.ONNX_DIFFS) console.log(what, k, rel(g, want[k]));
    expect(rel(g, want[k]), `${what} ${k}: ${g} vs ${want[k]}`).toBeLessThanOrEqual(tol);
  }
}
