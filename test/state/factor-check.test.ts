/**
 * The check of a state's TSQR factor against its moments (RᵀR = the Gram of [H | Y | 1]): entry
 * by entry up to 1024 columns, by random probes beyond (cubic time would be minutes at 4096).
 * Both paths pass genuine states (merged, conv, collapsed-like) and find a changed entry.
 */
import { describe, expect, it } from "vitest";
import { createNRCAccumulator, makeSyntheticNetwork } from "../../src/index.js";
import { decodeState } from "../../src/state/binary.js";
import { factorMismatch } from "../../src/state/validate-stats.js";
import { batchesOf } from "../helpers/batches.js";

async function layers(width: number, samples: number) {
  const net = makeSyntheticNetwork({ samples, layers: 3, width, targets: 3, seed: 11 });
  const acc = createNRCAccumulator({});
  await acc.addAll(batchesOf(net, [0, 7, Math.floor(samples / 2), samples]));
  return (await decodeState("test", acc.toSafetensors())).layers!;
}

describe("RᵀR against the moments", () => {
  for (const [width, samples] of [
    [6, 200],
    [40, 30], // fewer samples than columns: a short, wide factor
  ])
    it(`${width} wide, ${samples} samples: both paths pass the genuine factor and find a changed entry`, async () => {
      for (const s of await layers(width, samples)) {
        const r = s.r!;
        for (const exactMax of [Infinity, 0]) {
          expect(factorMismatch(s, r, exactMax), `exactMax ${exactMax}`).toBeNull();
          // An off-diagonal entry of the factor, changed by 1e-6 of itself.
          const w = r.cols;
          const at = 1 * w + 3;
          const old = r.data[at];
          r.data[at] = old * (1 + 1e-6) + 1e-9;
          expect(factorMismatch(s, r, exactMax), `exactMax ${exactMax}`).toMatch(/RᵀR/);
          r.data[at] = old;
          // A cross product changed by 1e-6 of itself: an off-diagonal of the Gram only.
          const c = s.cross[1];
          s.cross[1] = c * (1 + 1e-6) + 1e-9;
          expect(factorMismatch(s, r, exactMax), `exactMax ${exactMax}`).toMatch(
            exactMax === 0 ? /random probe/ : /\(RᵀR\)\[0, \d+\]/,
          );
          s.cross[1] = c;
          // An entry below the diagonal of a factor stored full.
          r.data[at] = old;
          r.data[2 * w] = 1e-3 * Math.abs(r.data[0]);
          expect(factorMismatch(s, r, exactMax)).not.toBeNull();
          r.data[2 * w] = 0;
        }
      }
    });
});
