/**
 * The SPEC's small reference example (SPEC.md, "Reference values"): features H (6×3), targets Y
 * (6×2) and a weight W (4×3, out×in), with t = 2.
 */
export const H = [
  [1, 2, 0],
  [2, 1, 1],
  [3, 5, 1],
  [4, 3, 2],
  [0, 1, 0],
  [5, 4, 3],
];
export const Y = [
  [1, 0],
  [0, 1],
  [2, 1],
  [1, 3],
  [0, 0],
  [3, 1],
];
export const W = [
  [1, 0, 2],
  [0, 1, -1],
  [1, 1, 1],
  [2, -1, 0],
];
