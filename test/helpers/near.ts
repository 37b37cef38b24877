import { expect } from "vitest";

/**
 * Expects `got` within `rel·|want| + abs` of `want` (and not null), the message naming `what`.
 * @returns the absolute error, for callers that record the worst.
 */
export function expectNear(
  got: number | null | undefined,
  want: number,
  rel: number,
  abs: number,
  what: string,
): number {
  expect(got, what).not.toBeNull();
  const err = Math.abs((got as number) - want);
  expect(err, `${what}: got ${got}, want ${want}`).toBeLessThanOrEqual(rel * Math.abs(want) + abs);
  return err;
}
