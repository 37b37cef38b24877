/**
 * Colours and axes of the report's figures: the run palette, log-scale domains and ticks, the
 * layer axis.
 * @module
 */

export const TABLEAU10 = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

// Anchors of a viridis-like ramp (dark purple → green), stopping before the pale yellow end.

export const RAMP = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [180, 210, 40],
];

export function rampColor(f: number): string {
  const pos = f * (RAMP.length - 1);
  const i = Math.min(Math.floor(pos), RAMP.length - 2);
  const u = pos - i;
  const c = RAMP[i].map((a, k) => Math.round(a + (RAMP[i + 1][k] - a) * u));
  return "#" + c.map((v) => v.toString(16).padStart(2, "0")).join("");
}

/**
 * The colours assigned to `n` runs.
 *
 * @param n - number of runs.
 * @param colors - user colours, used in order when given (cycled if too few).
 * @returns `n` CSS colours.
 * @example
 * runColors(2); // ['#4e79a7', '#f28e2b']
 */
export function runColors(n: number, colors?: readonly string[]): string[] {
  if (colors && colors.length > 0)
    return Array.from({ length: n }, (_, i) => colors[i % colors.length]);
  if (n <= TABLEAU10.length) return TABLEAU10.slice(0, n);
  return Array.from({ length: n }, (_, i) => rampColor(i / (n - 1)));
}

export function pow10(k: number): number {
  return Number(`1e${k}`);
}

/** Decade-aligned domain of positive values. */
export function logDomain(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v > 0) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) return [0.1, 1];
  const a = Math.floor(Math.log10(lo) + 1e-12);
  let b = Math.ceil(Math.log10(hi) - 1e-12);
  if (b <= a) b = a + 1;
  return [pow10(a), pow10(b)];
}

export function logTicks([lo, hi]: [number, number]): number[] {
  const a = Math.round(Math.log10(lo));
  const b = Math.round(Math.log10(hi));
  const stride = Math.max(1, Math.ceil((b - a) / 8));
  const out: number[] = [];
  for (let k = a; k <= b; k += stride) {
    out.push(pow10(k));
    if (b - a <= 2 && k < b) out.push(2 * pow10(k), 5 * pow10(k));
  }
  return out;
}

export function layerTicks(n: number): number[] {
  const target = 12;
  const steps = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000];
  const step = steps.find((s) => Math.ceil(n / s) <= target) ?? Math.ceil(n / target);
  const out: number[] = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}

/**
 * The layer axis labelled with the layers' names (position and name, e.g. "3 conv1"), unless
 * every name is the default "layer i" (then the positions alone say it).
 */
export function layerNameLabels(layers: readonly { name: string }[]): Record<string, unknown> {
  if (layers.every((l, i) => l.name === `layer ${i}` || l.name === String(i))) return {};
  const names = layers.map((l, i) => `${i} ${l.name}`);
  return {
    labelExpr: `${JSON.stringify(names)}[datum.value] || datum.label`,
    labelAngle: -35,
    labelAlign: "right",
    labelLimit: 90,
  };
}
