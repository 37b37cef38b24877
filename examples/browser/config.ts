/**
 * The network the browser demo measures, shared by the page and by the end-to-end test that
 * recomputes it in Node. `makeSyntheticNetwork` is deep-nrc's bundled SYNTHETIC network: features
 * built to collapse layer by layer onto the targets' span (nothing is trained).
 */
export const DEMO_NETWORK = {
  samples: 2000,
  layers: 6,
  width: 64,
  targets: 3,
  seed: 7,
} as const;

/** Overrides from the page's query string (`?samples=500&layers=8&width=32&seed=3`). */
export function networkFromQuery(search: string): {
  samples: number;
  layers: number;
  width: number;
  targets: number;
  seed: number;
} {
  const q = new URLSearchParams(search);
  const pick = (key: keyof typeof DEMO_NETWORK, lo: number, hi: number): number => {
    const v = Number(q.get(key));
    return q.has(key) && Number.isInteger(v) && v >= lo && v <= hi ? v : DEMO_NETWORK[key];
  };
  return {
    samples: pick("samples", 8, 200_000),
    layers: pick("layers", 1, 100),
    width: pick("width", 4, 1024),
    targets: pick("targets", 1, 16),
    seed: pick("seed", 1, 2 ** 31 - 1),
  };
}
