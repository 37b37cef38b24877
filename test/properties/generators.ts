/**
 * fast-check arbitraries for the property suites. Matrices are built from shrinkable doubles;
 * structured inputs (exact principal axes, Proposition 1's hypotheses) are built with ml-matrix's
 * QR, independent of the code under test.
 */
import fc from "fast-check";
import { Matrix, QrDecomposition } from "ml-matrix";

export type Dense = { rows: number; cols: number; data: Float64Array };

/** Seeds reproducible from NRC_SEED; a time limit per property keeps the suite fast. */
export const fcParams = (numRuns = 60): fc.Parameters<unknown> => ({
  numRuns,
  seed: process.env.NRC_SEED ? Number(process.env.NRC_SEED) : undefined,
  interruptAfterTimeLimit: 8_000,
  markInterruptAsFailure: false,
});

export const dense = (rows: number, cols: number, data: ArrayLike<number>): Dense => ({
  rows,
  cols,
  data: Float64Array.from(data),
});

/** An N×d matrix of doubles in [-10, 10]. */
export function matrixArb(rows: number, cols: number): fc.Arbitrary<Dense> {
  return fc
    .array(fc.double({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }), {
      minLength: rows * cols,
      maxLength: rows * cols,
    })
    .map((a) => dense(rows, cols, a));
}

/** A matrix of random size within the given ranges. */
export function sizedMatrixArb(
  rows: [number, number],
  cols: [number, number],
): fc.Arbitrary<Dense> {
  return fc
    .tuple(fc.integer({ min: rows[0], max: rows[1] }), fc.integer({ min: cols[0], max: cols[1] }))
    .chain(([r, c]) => matrixArb(r, c));
}

/** Deterministic normal matrix from a seed (for structured constructions). */
export function gaussian(rows: number, cols: number, seed: number): Matrix {
  let s = seed >>> 0 || 1;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const m = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++)
      m.set(i, j, Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
  return m;
}

/** Orthonormal columns spanning a random k-dim subspace of the centered (mean-zero) part of ℝᴺ. */
export function centeredOrthonormal(N: number, k: number, seed: number): Matrix {
  const g = gaussian(N, k, seed);
  g.subRowVector(g.mean("column"));
  return new QrDecomposition(g).orthogonalMatrix.subMatrix(0, N - 1, 0, k - 1);
}

/** Random d×d orthogonal matrix. */
export function orthogonal(d: number, seed: number): Matrix {
  return new QrDecomposition(gaussian(d, d, seed)).orthogonalMatrix;
}

export const toDense = (m: Matrix): Dense => dense(m.rows, m.columns, m.to1DArray());
