/**
 * The probe that runs before measuring (see pairing.ts): the model on a batch of n samples and on
 * a cyclic shift of them. Each map's input rows are paired with their samples (one proven stride,
 * else the map is not measured, with a note), and a weight computed in the graph from constants
 * (`weightFromRun`) is read from the run, and must be the same in both runs.
 * @module
 */
import type { ONNXLayer } from "./linear-maps.js";
import { denseWeight } from "./linear-maps.js";
import { describePairing, proveStrides, type RowPairing, type RowView } from "./pairing.js";

/** A tensor as ONNX Runtime returns it, read as float64 by the caller's `values`. */
export interface RunTensor {
  dims: readonly number[];
}

/** What the probe proved: each kept layer's pairing, and notes for the others. */
export interface ProbeResult {
  pairings: Map<ONNXLayer, RowPairing>;
  notes: string[];
}

/**
 * Runs the probe and fills in computed weights (`layer.weight`, `inDim`, `outDim`).
 * @param n - Probe samples (the model's fixed batch, or min(N, 16)); 1: every row is the sample's.
 * @param run - Runs samples 0…n−1 in the given order (identity when omitted); name → tensor.
 * @param read - A layer's input rows from a run.
 * @param values - A tensor's values as float64.
 */
export async function probeLayers<T extends RunTensor>(
  layers: readonly ONNXLayer[],
  n: number,
  run: (order?: Int32Array) => Promise<Record<string, T>>,
  read: (out: Record<string, T>, l: ONNXLayer) => RowView,
  values: (name: string, t: T) => Float64Array,
): Promise<ProbeResult & { dispose: T[] }> {
  const pairings = new Map<ONNXLayer, RowPairing>();
  const notes: string[] = [];
  const perm = Int32Array.from({ length: n }, (_, j) => (j + 1) % n);
  const a = await run();
  const b = n > 1 ? await run(perm) : a;
  for (const l of layers) {
    const what = `layer '${l.name}' (${l.op}) reads '${l.input}' of shape [${a[l.input].dims.join(", ")}] for ${n} samples`;
    if (l.weightFromRun) {
      const w = computedWeight(l, a[l.weightName], b[l.weightName], values);
      if (typeof w === "string") {
        notes.push(`layer '${l.name}' (MatMul): ${w}; not measured`);
        continue;
      }
      l.weight = w;
      l.inDim = w.cols;
      l.outDim = w.rows;
    }
    if (n === 1) {
      pairings.set(l, describePairing(1, 1, 1, l.op === "Conv"));
      continue;
    }
    const va = read(a, l);
    const strides = proveStrides(va, read(b, l), perm);
    if (strides.length === 1)
      pairings.set(l, describePairing(strides[0], va.rows, n, l.op === "Conv"));
    else
      notes.push(
        strides.length === 0
          ? `${what}: its rows do not follow the samples (no split into (…, sample, …) blocks moved with them when the samples were permuted); not measured`
          : `${what}: its rows fit ${strides.length} layouts (${strides.map((s) => `blocks of ${s}`).join(", ")}) because they do not change with the samples, so which sample a row belongs to is not proven; not measured`,
      );
  }
  return { pairings, notes, dispose: [...Object.values(a), ...(b === a ? [] : Object.values(b))] };
}

/** A MatMul's computed right operand (in×out) as out×in, or why it is not a weight. */
function computedWeight<T extends RunTensor>(
  l: ONNXLayer,
  ta: T,
  tb: T,
  values: (name: string, t: T) => Float64Array,
) {
  const dims = [...ta.dims];
  if (dims.length !== 2)
    return `its computed weight '${l.weightName}' has shape [${dims.join(", ")}], not a matrix`;
  const va = values(l.weightName, ta);
  const vb = values(l.weightName, tb);
  if (va.length !== vb.length || va.some((x, i) => x !== vb[i]))
    return `its computed weight '${l.weightName}' changed when the samples were permuted`;
  return denseWeight({ dims, data: va }, false, 1);
}
