/**
 * Power-of-two scaling around the eigen/SVD solvers: matrices with subnormal, tiny or huge entries
 * (found by fast-check on the property suites) are solved, not rejected as non-convergent.
 */
import { describe, it, expect } from "vitest";
import { completeKernels, jsKernels } from "../../src/index.js";
import type { Mat, SymEigResult, SvdResult } from "../../src/backends/types.js";

const mat = (rows: number, cols: number, xs: number[]): Mat => ({
  rows,
  cols,
  data: Float64Array.from(xs),
});
const sorted = (v: Float64Array) => Array.from(v).sort((a, b) => b - a);

describe("scaled eigen/SVD solvers", () => {
  it("symmetric matrices with subnormal couplings (once non-convergent)", async () => {
    const a = mat(3, 3, [0.00390625, 0, -5e-324, 0, 0, 0, -5e-324, 0, 0]);
    const r = (await jsKernels.symEig(a)) as SymEigResult;
    expect(sorted(r.values)).toEqual([0.00390625, 0, 0]);
    const b = mat(3, 3, [0, 0, 1.9e-298, 0, 1e-6, 0, 1.9e-298, 0, 7.2e-68]);
    const s = sorted(((await jsKernels.symEig(b)) as SymEigResult).values);
    expect(s[0]).toBe(1e-6);
    expect(Math.abs(s[1] - 7.2e-68)).toBeLessThanOrEqual(1e-6 * Number.EPSILON);
    expect(Math.abs(s[2])).toBeLessThanOrEqual(1e-6 * Number.EPSILON);
  });

  it("tiny and huge matrices keep full relative accuracy", async () => {
    for (const scale of [1e-300, 1e-160, 1e160, 1e300]) {
      const a = mat(2, 2, [2 * scale, scale, scale, 2 * scale]); // eigenvalues 3s, s
      const v = sorted(((await jsKernels.symEig(a)) as SymEigResult).values);
      expect(Math.abs(v[0] / (3 * scale) - 1)).toBeLessThan(1e-14);
      expect(Math.abs(v[1] / scale - 1)).toBeLessThan(1e-14);
      const m = mat(3, 2, [3 * scale, 0, 0, 4 * scale, 0, 0]); // singular values 4s, 3s
      const S = ((await jsKernels.svd(m)) as SvdResult).S;
      expect(Math.abs(S[0] / (4 * scale) - 1)).toBeLessThan(1e-14);
      expect(Math.abs(S[1] / (3 * scale) - 1)).toBeLessThan(1e-14);
    }
  });

  it("a backend's own solvers get the same scaling through completeKernels", async () => {
    const seen: number[] = [];
    const k = completeKernels({
      name: "spy",
      symEig(a: Mat) {
        seen.push(Math.max(...Array.from(a.data, Math.abs)));
        return jsKernels.symEig(a);
      },
    });
    const v = sorted(((await k.symEig(mat(2, 2, [1e-200, 0, 0, 4e-200]))) as SymEigResult).values);
    expect(seen[0]).toBeGreaterThanOrEqual(0.5);
    expect(seen[0]).toBeLessThan(1);
    expect(v[0] / 4e-200).toBeCloseTo(1, 14);
    expect(v[1] / 1e-200).toBeCloseTo(1, 14);
  });

  it("leaves the input untouched", async () => {
    const a = mat(2, 2, [1e-300, 5e-324, 5e-324, 2e-300]);
    const copy = Float64Array.from(a.data);
    await jsKernels.symEig(a);
    expect(a.data).toEqual(copy);
  });
});
