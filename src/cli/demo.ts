/**
 * `deep-nrc demo`: the bundled example, a deterministic synthetic network whose top layers
 * collapse onto the targets (the same one `npm run demo` measures, from `makeSyntheticNetwork`).
 * @module
 */
import { makeSyntheticNetwork } from "../io/synthetic.js";
import type { LayerInput } from "../engine/measure.js";
import type { MatrixInput } from "../linalg/matrix.js";

/** The demo network's size, printed above its table. */
export const DEMO = { samples: 2000, layers: 6, width: 64, targets: 3, seed: 7 } as const;

/** Builds the demo network's layers and targets. */
export function demoNetwork(seed: number = DEMO.seed): {
  layers: LayerInput[];
  targets: MatrixInput;
} {
  const net = makeSyntheticNetwork({ ...DEMO, seed });
  return { layers: net.layers, targets: net.targets };
}
