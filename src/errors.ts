/**
 * The error every public function throws on bad input, and the generic argument checks (integers
 * in range, option keys, callbacks, option objects, preset names) that every layer above shares.
 * @module
 */

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

/** The two conventions (SPEC): `paper` (default) or `reference-code` (the authors' scripts). */
export type Preset = "paper" | "reference-code";

/** Checks that t (or r) is an integer in [min, max]. */
export function checkDim(
  fn: string,
  arg: string,
  v: unknown,
  max: number,
  what: string,
  min = 1,
): number {
  if (typeof v !== "number" || !Number.isInteger(v))
    throw new NRCInputError(fn, arg, `${arg} must be an integer; got ${String(v)}`);
  if (v < min || v > max)
    throw new NRCInputError(
      fn,
      arg,
      // No bound known yet (checked per layer later): name the lower one only.
      max >= Number.MAX_SAFE_INTEGER
        ? `${arg} must be an integer ≥ ${min} (and at most ${what}); got ${v}`
        : `${arg} must be between ${min} and ${what} (${max}); got ${v}`,
    );
  return v;
}

/**
 * Rejects keys of an options-like object that the function does not read (a misspelt
 * `collapseTreshold` would otherwise be ignored silently).
 * @throws NRCInputError naming the first unknown key and the accepted ones.
 */
export function checkKeys(fn: string, arg: string, obj: object, accepted: readonly string[]): void {
  for (const key of Object.keys(obj))
    if (!accepted.includes(key)) {
      const near = accepted.find((a) => closeTo(a, key));
      throw new NRCInputError(
        fn,
        `${arg}.${key}`,
        `${arg} has an unknown key ${JSON.stringify(key)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ""}; accepted keys: ${accepted.join(", ")}`,
      );
    }
}

/** Whether two keys differ by one edit or a case change (a likely typo). */
function closeTo(a: string, b: string): boolean {
  a = a.toLowerCase();
  b = b.toLowerCase();
  if (a === b) return true;
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const tail = (x: string, y: string) => x.slice(i + 1) === y.slice(i + 1);
  return tail(a, b) || a.slice(i + 1) === b.slice(i) || a.slice(i) === b.slice(i + 1);
}

/** Checks an optional callback. */
export function checkCallback(fn: string, arg: string, f: unknown): void {
  if (f !== undefined && typeof f !== "function")
    throw new NRCInputError(
      fn,
      arg,
      `${arg} must be a function; got ${f === null ? "null" : typeof f}`,
    );
}

/** Validates a `{ backend }`-style options object. */
export function checkOptions(fn: string, opts: unknown): void {
  if (opts !== undefined && (opts === null || typeof opts !== "object"))
    throw new NRCInputError(
      fn,
      "options",
      `options must be an object; got ${opts === null ? "null" : typeof opts}`,
    );
}

/** Checks a preset name. */
export function checkPreset(fn: string, preset: unknown): Preset {
  if (preset === undefined) return "paper";
  if (preset !== "paper" && preset !== "reference-code")
    throw new NRCInputError(
      fn,
      "preset",
      `preset must be "paper" or "reference-code"; got ${JSON.stringify(preset)}`,
    );
  return preset;
}
