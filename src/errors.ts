/**
 * The error every public function throws on bad input. The message always names the function,
 * the argument, what was expected and what came, e.g.
 * `linearCKA: x and y must have the same number of rows (samples); got 128×64 and 100×64`.
 */
export class NRCInputError extends Error {
  /** The public function that rejected its input. */
  readonly fn: string;
  /** The argument at fault. */
  readonly arg: string;
  constructor(fn: string, arg: string, message: string) {
    super(`${fn}: ${message}`);
    this.name = "NRCInputError";
    this.fn = fn;
    this.arg = arg;
  }
}

/** Formats a shape as `rows×cols` (or `a×b×c×d`). */
export function fmtShape(...dims: readonly number[]): string {
  return dims.join("×");
}
