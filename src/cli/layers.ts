/**
 * `deep-nrc layers model.onnx`: lists the linear maps deep-nrc measures in an ONNX model (name,
 * op, in → out, stored weight shape), without running it. Node only.
 * @module
 */
import { NRCInputError } from "../errors.js";

/** Renders the layer list as a table (or JSON when `json`). */
export async function listLayersText(path: string, layers?: RegExp, json = false): Promise<string> {
  if (!/\.onnx$/i.test(path))
    throw new NRCInputError(
      "deep-nrc layers",
      "path",
      `layers reads an ONNX model (.onnx); got ${path}`,
    );
  let onnx: typeof import("../onnx/linear-maps.js");
  try {
    onnx = await import("../onnx/linear-maps.js");
  } catch (e) {
    throw new NRCInputError(
      "deep-nrc layers",
      "path",
      `cannot load deep-nrc/onnx: ${(e as Error).message}`,
    );
  }
  const info = await onnx.listONNXLayers(path, layers);
  if (json) return JSON.stringify(info, null, 2);
  const inputs = info.inputs
    .map((i) => `${i.name} [${i.dims.map((d) => d ?? "?").join(", ")}]`)
    .join(", ");
  const head = `${path}: opset ${info.opset}${info.producer ? `, ${info.producer}` : ""}; input ${inputs}`;
  const rows = info.layers.map((l, k) => [
    String(k),
    l.name,
    l.op,
    `${l.inDim ?? "?"} → ${l.outDim ?? "?"}`,
    l.weightShape
      ? `${l.weightName} ${l.weightShape.join("×")} (${l.weightLayout})`
      : l.weightFromRun
        ? `${l.weightName} (computed from constants: read when the model runs)`
        : `${l.weightName} (computed: no NRC3)`,
  ]);
  const cols = ["#", "name", "op", "in → out", "weight"];
  const width = cols.map((c, j) => Math.max(c.length, ...rows.map((r) => r[j].length)));
  const line = (r: string[]) =>
    r
      .map((s, j) => s.padEnd(width[j]))
      .join("  ")
      .trimEnd();
  return [
    head,
    line(cols),
    ...rows.map(line),
    `${info.layers.length} linear map(s); features = each map's input`,
  ].join("\n");
}
