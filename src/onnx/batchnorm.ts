/**
 * Whether a Conv's weight in the file is the module's, or has BatchNorm folded into it.
 *
 * Exporters fold an eval-mode BatchNorm into the Conv before it (PyTorch's `torch.onnx.export`
 * does by default, `training=TrainingMode.EVAL`): the file's filters are W·diag(γ/√(σ²+ε)) per
 * output channel and the bias absorbs the rest, so NRC3 and the weight's stable rank are of the
 * folded filters, not of the module's `conv.weight`. The graph cannot prove a fold happened (a
 * Conv with a bias may never have had a BatchNorm), so deep-nrc says what it can see:
 * - `"follows"`: the Conv's output goes straight into a BatchNormalization node (exported with
 *   `training=TrainingMode.PRESERVE`, or by an exporter that does not fold): the filters are
 *   the module's;
 * - `"maybe-folded"`: a Conv with a bias in a graph with no BatchNormalization node at all: if
 *   the model had BatchNorm layers, they are folded into these filters;
 * - `null`: neither (a Conv without bias is not a fold target; Gemm/MatMul are not folded).
 * @module
 */
import type { NodeProto } from "./proto.js";

/** See the module comment. */
export type BatchNormStatus = "follows" | "maybe-folded" | null;

/** Each layer's {@link BatchNormStatus}, from the graph's nodes. */
export function batchNormStatuses(
  nodes: readonly NodeProto[],
  layers: readonly { op: string; nodeIndex: number }[],
): BatchNormStatus[] {
  const bnInputs = new Set<string>();
  for (const n of nodes)
    if (n.opType === "BatchNormalization" && n.input?.[0]) bnInputs.add(n.input[0]);
  return layers.map((l) => {
    if (l.op !== "Conv") return null;
    const node = nodes[l.nodeIndex];
    if (bnInputs.has(node.output?.[0] ?? "")) return "follows";
    const hasBias = (node.input?.length ?? 0) >= 3 && !!node.input![2];
    return hasBias && bnInputs.size === 0 ? "maybe-folded" : null;
  });
}

/** The report's note on folded weights, or null when no layer may be folded. */
export function foldingNote(
  layers: readonly { name: string; batchNorm: BatchNormStatus }[],
): string | null {
  const maybe = layers.filter((l) => l.batchNorm === "maybe-folded").map((l) => l.name);
  if (maybe.length === 0) return null;
  const shown =
    maybe.slice(0, 4).join(", ") + (maybe.length > 4 ? `, … (${maybe.length} in all)` : "");
  return `weights are the file's tensors: ${shown} have a bias and the graph has no BatchNormalization, so if the model had BatchNorm layers the exporter folded them into these filters (PyTorch's default eval-mode export) and NRC3 and srank(W) are of the folded filters W·diag(γ/√(σ²+ε)); export with training=torch.onnx.TrainingMode.PRESERVE to measure the module's own weights`;
}
