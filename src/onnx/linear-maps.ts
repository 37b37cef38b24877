/**
 * Finding the linear maps of an ONNX graph: `Gemm`, `MatMul` with a constant right operand, and
 * `Conv`, with their weights in deep-nrc's conventions (out×in; conv filters Cout×Cin×kh×kw).
 * @module
 */
import { NRCInputError } from "../errors.js";
import type { Mat } from "../backends/types.js";
import type { TensorInput } from "../io/conv.js";
import {
  decodeModel,
  DTYPE_NAMES,
  int64,
  tensorValues,
  type AttributeProto,
  type DenseTensor,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from "./proto.js";
import { modelBytes, type ONNXModelSource } from "./model-bytes.js";

/** One linear map found in the graph. */
export interface ONNXLayerInfo {
  /** The node's name (or `<op>_<index>` when it has none). */
  name: string;
  /** `Gemm`, `MatMul` or `Conv`. */
  op: "Gemm" | "MatMul" | "Conv";
  /** Index of the node in the graph. */
  nodeIndex: number;
  /** The tensor this map reads: the layer's features. */
  input: string;
  /** The tensor holding the weight. */
  weightName: string;
  /** The weight's stored shape (e.g. in×out for MatMul), or null when not a constant. */
  weightShape: number[] | null;
  /** How the weight is stored: `out×in` (Gemm with transB), `in×out` (MatMul, Gemm), `Cout×Cin×kh×kw`. */
  weightLayout: "out×in" | "in×out" | "Cout×Cin×kh×kw" | "Cout×Cin×k";
  /** `dense` (Gemm, MatMul) or `conv`. */
  kind: "dense" | "conv";
  /** Input width (features, or input channels), null when unknown. */
  inDim: number | null;
  /** Output width (or output channels), null when unknown. */
  outDim: number | null;
  /** Why this layer is measured without NRC3 (its weight is not a constant), else null. */
  note: string | null;
  /** Gemm's transA: the features are stored transposed. */
  transA: boolean;
  /**
   * A MatMul whose right operand is computed in the graph from constants only (e.g. PyTorch's
   * cross-attention slices its packed in_proj_weight by the input's width): the weight is read
   * from ONNX Runtime's run (`weightName` is that tensor).
   */
  weightFromRun: boolean;
}

/** A layer with its weight read: out×in, or conv filters OIHW. */
export interface ONNXLayer extends ONNXLayerInfo {
  weight: Mat | TensorInput | null;
}

/** What the graph walk found: linear maps, the model's inputs, opset and producer. */
export interface GraphInfo {
  layers: ONNXLayer[];
  /** The model's real inputs (graph inputs that are not initializers). */
  inputs: { name: string; elemType: number; dims: (number | string | null)[] }[];
  opset: number;
  producer: string;
}

/** Ops that are linear maps deep-nrc cannot read the weight of (quantised, transposed, fused). */
const UNSUPPORTED_LINEAR = new Set([
  "ConvTranspose",
  "QLinearConv",
  "QLinearMatMul",
  "MatMulInteger",
  "ConvInteger",
  "FusedMatMul",
  "FusedConv",
  "FusedGemm",
  "MatMulNBits",
  "QGemm",
]);

function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/** Layer-name filter: exact name, a list of names, or a regular expression. */
export type LayerFilter = string | RegExp | readonly string[];

/**
 * Walks the graph and returns its linear maps (filtered by `filter`), their weights and the
 * model's inputs.
 * @throws NRCInputError on an opset older than 7, an unsupported linear op or weight rank (naming
 *   the node; exclude it with `layers`), or a filter that matches nothing.
 */
export function analyseGraph(
  fn: string,
  model: ModelProto,
  filter: LayerFilter | undefined,
  external?: (location: string, offset: number, length: number) => Uint8Array,
  readWeights = true,
): GraphInfo {
  const g = model.graph!;
  const opsetEntry = (model.opsetImport ?? []).find(
    (o) => (o.domain ?? "") === "" || o.domain === "ai.onnx",
  );
  const opset = int64(opsetEntry?.version);
  if (opset < 7)
    throw new NRCInputError(
      fn,
      "model",
      `the model imports ONNX opset ${opset || "(none)"}; deep-nrc reads opset 7 and later (re-export with a newer opset)`,
    );
  const consts = new Map<string, TensorProto>();
  for (const t of g.initializer ?? []) if (t.name) consts.set(t.name, t);
  const nodes = g.node ?? [];
  for (const n of nodes)
    if (n.opType === "Constant" && (n.domain ?? "") === "" && n.output?.[0]) {
      const t = attr(n, "value")?.t;
      if (t) consts.set(n.output[0], t);
    }
  const inputs = (g.input ?? [])
    .filter((v) => v.name && !consts.has(v.name))
    .map((v) => ({
      name: v.name!,
      elemType: v.type?.tensorType?.elemType ?? 0,
      dims: (v.type?.tensorType?.shape?.dim ?? []).map((d) =>
        d.dimValue !== undefined && d.dimValue !== null && int64(d.dimValue) > 0
          ? int64(d.dimValue)
          : (d.dimParam ?? null),
      ),
    }));
  const matches = (name: string) =>
    filter === undefined
      ? true
      : typeof filter === "string"
        ? name === filter
        : filter instanceof RegExp
          ? new RegExp(filter.source, filter.flags.replace("g", "")).test(name)
          : filter.includes(name);

  const constantValued = constantValuedTensors(nodes, consts);
  const used = new Set<string>();
  const layers: ONNXLayer[] = [];
  const allNames: string[] = [];
  nodes.forEach((node, idx) => {
    const op = node.opType ?? "";
    const domain = node.domain ?? "";
    const isDefault = domain === "" || domain === "ai.onnx";
    let name = node.name || `${op}_${idx}`;
    while (used.has(name)) name = `${name}_${idx}`;
    const isLinear = isDefault && (op === "Gemm" || op === "Conv" || op === "MatMul");
    if (!isLinear) {
      if (UNSUPPORTED_LINEAR.has(op) && matches(name))
        throw new NRCInputError(
          fn,
          "model",
          `node '${name}' (${op}${isDefault ? "" : ` from domain ${domain}`}) is a linear map deep-nrc cannot read (quantised, transposed or fused); export the float model with graph optimisations off, or exclude the node with layers`,
        );
      return;
    }
    const [a, b] = node.input ?? [];
    if (!a || !b) return;
    const wt = consts.get(b);
    // MatMul with a right operand computed from activations (attention's QKᵀ, …) is no layer with
    // a weight, and a map whose input is itself a constant reads no features.
    const fromRun = op === "MatMul" && !wt && constantValued.has(b);
    if ((op === "MatMul" && !wt && !fromRun) || consts.has(a)) return;
    used.add(name);
    allNames.push(name);
    if (!matches(name)) return;
    const what = `node '${name}' (${op}) weight '${b}'`;
    const dims = wt ? (wt.dims ?? []).map(int64) : null;
    const layer: ONNXLayer = {
      name,
      op: op as ONNXLayer["op"],
      nodeIndex: idx,
      input: a,
      weightName: b,
      weightShape: dims,
      kind: op === "Conv" ? "conv" : "dense",
      weightLayout:
        op === "Conv"
          ? dims?.length === 3
            ? "Cout×Cin×k"
            : "Cout×Cin×kh×kw"
          : op === "Gemm" && int64(attr(node, "transB")?.i) === 1
            ? "out×in"
            : "in×out",
      inDim: null,
      outDim: null,
      note: null,
      transA: op === "Gemm" && int64(attr(node, "transA")?.i) === 1,
      weightFromRun: fromRun,
      weight: null,
    };
    if (fromRun) {
      layer.note = `the weight '${b}' of node '${name}' (MatMul) is computed in the graph from constants only (e.g. a slice of a packed attention weight); it is read from ONNX Runtime's run`;
      layers.push(layer);
      return;
    }
    if (!wt) {
      layer.note = `the weight '${b}' of node '${name}' (${op}) is not an initializer or Constant (computed in the graph, e.g. a Cast or DequantizeLinear); this layer is measured without NRC3`;

      layers.push(layer);
      return;
    }
    if (wt.dataType !== 1 && wt.dataType !== 10 && wt.dataType !== 11 && wt.dataType !== 16)
      throw new NRCInputError(
        fn,
        "model",
        `${what} has element type ${DTYPE_NAMES[wt.dataType ?? 0] ?? wt.dataType}; deep-nrc reads float16/bfloat16/float32/float64 weights (a quantised model? exclude the node with layers)`,
      );
    const d = dims!;
    if (op === "Conv") {
      if (d.length !== 4 && d.length !== 3)
        throw new NRCInputError(
          fn,
          "model",
          `node '${name}' (Conv) has filters of shape [${d.join(", ")}]; deep-nrc reads 1-D and 2-D convolutions (filters Cout×Cin×k or Cout×Cin×kh×kw); exclude the node with layers`,
        );
      const groups = Math.max(1, int64(attr(node, "group")?.i));
      layer.inDim = d[1] * groups;
      layer.outDim = d[0];
      if (readWeights) {
        const v = tensorValues(fn, wt, what, external);
        layer.weight = convFilters(v, groups);
      }
    } else {
      if (d.length !== 2)
        throw new NRCInputError(
          fn,
          "model",
          `${what} has shape [${d.join(", ")}]; a ${op} weight must be a matrix (exclude the node with layers)`,
        );
      const transB = op === "Gemm" && int64(attr(node, "transB")?.i) === 1;
      // Stored in×out (MatMul, Gemm without transB) or out×in (Gemm with transB).
      layer.inDim = transB ? d[1] : d[0];
      layer.outDim = transB ? d[0] : d[1];
      if (readWeights) {
        const v = tensorValues(fn, wt, what, external);
        const alphaAttr = attr(node, "alpha");
        const alpha = op === "Gemm" && alphaAttr ? (alphaAttr.f ?? 1) : 1;
        layer.weight = denseWeight(v, transB, alpha);
      }
    }
    layers.push(layer);
  });
  if (filter !== undefined && layers.length === 0)
    throw new NRCInputError(
      fn,
      "layers",
      `layers ${filter instanceof RegExp ? String(filter) : JSON.stringify(filter)} matches none of the model's linear maps: ${allNames.join(", ") || "(none)"}`,
    );
  if (Array.isArray(filter)) {
    const missing = filter.filter((n) => !allNames.includes(n));
    if (missing.length)
      throw new NRCInputError(
        fn,
        "layers",
        `layers names ${missing.map((n) => `'${n}'`).join(", ")}, which the model has not; its linear maps: ${allNames.join(", ")}`,
      );
  }
  return {
    layers,
    inputs,
    opset,
    producer: `${model.producerName ?? ""} ${model.producerVersion ?? ""}`.trim(),
  };
}

/** Ops whose output is not a function of their inputs' values. */
const NONDETERMINISTIC = /^(Random|Multinomial|Bernoulli)/;

/**
 * The tensors whose values do not depend on the model's inputs' values: initializers and Constants,
 * outputs of Shape/Size (they read only shapes), and outputs of nodes (default domain, no subgraph)
 * whose every input is such a tensor. Nodes are in topological order (ONNX requires it).
 */
function constantValuedTensors(nodes: NodeProto[], consts: Map<string, TensorProto>): Set<string> {
  const out = new Set<string>(consts.keys());
  for (const n of nodes) {
    const op = n.opType ?? "";
    if ((n.domain ?? "") !== "" && n.domain !== "ai.onnx") continue;
    if (NONDETERMINISTIC.test(op) || n.attribute?.some((a) => a.type === 5 || a.type === 10))
      continue; // GRAPH / GRAPHS attributes: control flow
    const ins = (n.input ?? []).filter((i) => i);
    if (op === "Shape" || op === "Size" || (ins.length > 0 && ins.every((i) => out.has(i))))
      for (const o of n.output ?? []) if (o) out.add(o);
  }
  return out;
}

/** out×in from a stored matrix: transposed unless `outByIn`, times alpha. */
export function denseWeight(v: DenseTensor, outByIn: boolean, alpha: number): Mat {
  const [r, c] = v.dims;
  if (outByIn) {
    const data = alpha === 1 ? v.data : v.data.map((x) => alpha * x);
    return { rows: r, cols: c, data };
  }
  const data = new Float64Array(r * c);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < c; j++) data[j * r + i] = alpha * v.data[i * c + j];
  return { rows: c, cols: r, data };
}

/**
 * Conv filters as OIHW over all input channels: a 1-D conv's Cout×Cin×k becomes Cout×Cin×k×1, and
 * a grouped conv's Cout×(Cin/G)×kh×kw is spread over the Cin channels with zeros where an output
 * channel does not read (exactly the linear map the node applies).
 */
function convFilters(v: DenseTensor, groups: number): TensorInput {
  const [O, Ig, kh, kw = 1] = v.dims;
  if (groups === 1) return { data: v.data, shape: [O, Ig, kh, kw] };
  const I = Ig * groups;
  const perGroup = O / groups;
  const out = new Float64Array(O * I * kh * kw);
  const k = kh * kw;
  for (let o = 0; o < O; o++) {
    const g = Math.floor(o / perGroup);
    for (let i = 0; i < Ig; i++)
      for (let p = 0; p < k; p++) out[(o * I + g * Ig + i) * k + p] = v.data[(o * Ig + i) * k + p];
  }
  return { data: out, shape: [O, I, kh, kw] };
}

/**
 * Lists the linear maps of an ONNX model (name, op, in → out, weight shape) without running it.
 * @param model - A file path (Node) or the file's bytes.
 * @param layers - Optional filter (name, names, or RegExp).
 * @returns The maps in graph order, with the model's opset and producer.
 * @throws NRCInputError when the bytes are not an ONNX model, or on an unsupported linear op.
 * @example
 * ```ts
 * import { listONNXLayers } from "deep-nrc/onnx";
 * const { layers } = await listONNXLayers("model.onnx");
 * for (const l of layers) console.log(l.name, l.op, `${l.inDim} → ${l.outDim}`);
 * ```
 */
export async function listONNXLayers(
  model: ONNXModelSource,
  layers?: LayerFilter,
): Promise<{
  layers: Omit<ONNXLayer, "weight">[];
  inputs: GraphInfo["inputs"];
  opset: number;
  producer: string;
}> {
  const fn = "listONNXLayers";
  checkFilter(fn, layers);
  const { bytes } = await modelBytes(fn, model);
  const m = await decodeModel(fn, bytes);
  const g = analyseGraph(fn, m, layers, undefined, false);
  return {
    layers: g.layers.map(stripWeight),
    inputs: g.inputs,
    opset: g.opset,
    producer: g.producer,
  };
}

export function stripWeight(l: ONNXLayer): Omit<ONNXLayer, "weight"> {
  const { weight: _w, ...rest } = l;
  return rest;
}

export function checkFilter(fn: string, f: unknown): void {
  if (f === undefined || typeof f === "string" || f instanceof RegExp) return;
  if (Array.isArray(f) && f.every((s) => typeof s === "string")) return;
  throw new NRCInputError(
    fn,
    "layers",
    `layers must be a node name, an array of names or a RegExp; got ${typeof f}`,
  );
}
