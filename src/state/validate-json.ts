/**
 * Load-time checks of the parts of a JSON accumulator state (`json.ts`) that are not the layers'
 * numbers: options of the right types, names and kinds one per layer, the samples, and the
 * state's id and sources. The numbers are checked by `validate-stats.ts`, the whole by the
 * state's checksum.
 * @module
 */
import { NRCInputError } from "../errors.js";

/** The option keys a state holds. */
const OPTION_KEYS = ["t", "r", "preset", "modelMSE", "collapseThreshold", "nrc4", "debiased"];

const posInt = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 1;
const show = (v: unknown) => (v === undefined ? "undefined" : JSON.stringify(v));

/**
 * Checks the parts of a state that are not the layers' numbers: `options`, `samples`, `names`,
 * `kinds`, and that `layers` is null (an empty accumulator) or a non-empty array.
 * @throws NRCInputError naming the field.
 */
export function checkStateShape(fn: string, s: Record<string, unknown>): void {
  const bad = (field: string, what: string, got: unknown): never => {
    throw new NRCInputError(fn, "state", `state.${field} must be ${what}; got ${show(got)}`);
  };
  const o = s.options as Record<string, unknown> | null;
  if (o === null || typeof o !== "object" || Array.isArray(o)) bad("options", "an object", o);
  for (const key of Object.keys(o!))
    if (!OPTION_KEYS.includes(key))
      bad(`options.${key}`, `absent (accepted keys: ${OPTION_KEYS.join(", ")})`, o![key]);
  const { t, r, preset, modelMSE, collapseThreshold, nrc4 } = o!;
  if (t !== null && !posInt(t)) bad("options.t", "null or a positive integer", t);
  if (r !== null && r !== undefined && !posInt(r))
    bad("options.r", "null or a positive integer", r);
  if (preset !== "paper" && preset !== "reference-code")
    bad("options.preset", '"paper" or "reference-code"', preset);
  if (
    modelMSE !== null &&
    modelMSE !== undefined &&
    !(typeof modelMSE === "number" && Number.isFinite(modelMSE) && modelMSE > 0)
  )
    bad("options.modelMSE", "null or a finite number > 0", modelMSE);
  if (!(
    typeof collapseThreshold === "number" &&
    Number.isFinite(collapseThreshold) &&
    collapseThreshold >= 0
  ))
    bad("options.collapseThreshold", "a finite number ≥ 0", collapseThreshold);
  if (o!.debiased !== undefined && typeof o!.debiased !== "boolean")
    bad("options.debiased", "absent or a boolean", o!.debiased);
  if (nrc4 !== undefined && nrc4 !== "tsqr" && nrc4 !== "rescan")
    bad("options.nrc4", '"tsqr" or "rescan" (or absent)', nrc4);
  const layers = s.layers;
  const samples = s.samples;
  if (layers === null) {
    if (samples !== 0) bad("samples", "0 in a state without layers (layers: null)", samples);
    if (s.kinds !== null && s.kinds !== undefined)
      bad("kinds", "null in a state without layers", s.kinds);
    return;
  }
  if (!Array.isArray(layers) || layers.length === 0)
    bad("layers", "null (nothing added) or a non-empty array of layer states", layers);
  const L = (layers as unknown[]).length;
  if (!posInt(samples)) bad("samples", "a positive integer", samples);
  if (s.names !== null && s.names !== undefined) {
    const names = s.names;
    if (!Array.isArray(names) || names.length !== L)
      bad("names", `null or an array of ${L} strings (one per layer)`, names);
    (names as unknown[]).forEach((v, i) => {
      if (typeof v !== "string") bad(`names[${i}]`, "a string", v);
    });
  }
  if (s.kinds !== null && s.kinds !== undefined) {
    const kinds = s.kinds;
    if (!Array.isArray(kinds) || kinds.length !== L)
      bad("kinds", `null or an array of ${L} kinds (one per layer)`, kinds);
    (kinds as unknown[]).forEach((v, i) => {
      if (v !== "dense" && v !== "conv") bad(`kinds[${i}]`, '"dense" or "conv"', v);
    });
  }
}
