/**
 * Hand-built, clearly SYNTHETIC `NRCReport`s for the report tests: the numbers follow the shape of
 * a collapsing network (NRC1 falling by decades, NRC2/NRC3 rising, NRC4 approaching the model MSE)
 * but come from formulas below, not from any measurement.
 */
import type { LayerReport, NRCReport } from "../../src/engine/report.js";

export interface SyntheticOptions {
  layers?: number;
  /** Shift of the collapse curve (epochs: larger = further trained). */
  progress?: number;
  /** Layer positions without a weight (NRC3, stable rank of W null). */
  noWeight?: number[];
  /** Layer positions marked degenerate (all metrics null). */
  degenerate?: number[];
  /** Layer positions whose NRC1 is exactly 0. */
  zeroNRC1?: number[];
  /** Layer names (default `fc{i}`). */
  names?: string[];
  modelMSE?: number | null;
  r?: number | null;
  threshold?: number;
}

/** A synthetic report whose layer i has NRC1 = 0.8·10^(−k·i) etc. (see the code). */
export function syntheticReport(o: SyntheticOptions = {}): NRCReport {
  const L = o.layers ?? 8;
  const p = o.progress ?? 1;
  const mse = o.modelMSE === undefined ? 0.02 : o.modelMSE;
  const threshold = o.threshold ?? 1e-3;
  const layers: LayerReport[] = [];
  for (let i = 0; i < L; i++) {
    const f = L === 1 ? 1 : i / (L - 1);
    const name = o.names?.[i] ?? `fc${i}`;
    if (o.degenerate?.includes(i)) {
      layers.push({
        index: i,
        name,
        kind: "dense",
        samples: 1000,
        features: 128,
        degenerate: "zero-variance features (all 0)",
        nrc1: null,
        nrc2: null,
        nrc3: null,
        nrc4: null,
        nrc4OverModelMSE: null,
        stableRankFeatures: null,
        stableRankWeight: null,
        topEigenvalues: [],
        collapsed: false,
        intrinsic: null,
      });
      continue;
    }
    const nrc1 = o.zeroNRC1?.includes(i) ? 0 : 0.8 * Math.pow(10, -6 * p * f);
    const nrc4 = (mse ?? 0.02) * (1 + (40 * Math.pow(1 - f, 2)) / p);
    const hasW = !o.noWeight?.includes(i);
    layers.push({
      index: i,
      name,
      kind: "dense",
      samples: 1000,
      features: 128,
      degenerate: null,
      nrc1,
      nrc2: Math.min(1, 0.35 + 0.64 * Math.pow(f, 0.7) * Math.min(1, p)),
      nrc3: hasW ? Math.min(1, 0.15 + 0.8 * f * Math.min(1, p)) : null,
      nrc4,
      nrc4OverModelMSE: mse === null ? null : nrc4 / mse,
      stableRankFeatures: 1.3 + (30 * Math.pow(1 - f, 2)) / p,
      stableRankWeight: hasW ? 1.5 + (40 * Math.pow(1 - f, 1.5)) / p : null,
      topEigenvalues: [1, 0.5, 0.2],
      collapsed: nrc1 <= threshold,
      intrinsic:
        o.r == null
          ? null
          : {
              r: o.r,
              nrc1: nrc1 * 3,
              nrc3: hasW ? 0.2 + 0.75 * f : null,
              bottomAlignment: hasW ? 0.6 * (1 - f) : null,
            },
    });
  }
  // First collapsed layer: start of the longest collapsed suffix.
  let first: number | null = null;
  for (let i = L - 1; i >= 0 && layers[i].collapsed; i--) first = i;
  return {
    preset: "paper",
    t: 3,
    r: o.r ?? null,
    samples: 1000,
    targetDim: 3,
    targetStableRank: 1.33,
    collapseThreshold: threshold,
    firstCollapsedLayer: first,
    modelMSE: mse,
    backend: "synthetic (hand-built test data)",
    layers,
  };
}
