/**
 * Exposing inner tensors as graph outputs without re-encoding the model: {@link appendGraphOutputs}
 * appends a second serialised `ModelProto { graph { output: … } }` to the original bytes. Protocol
 * buffers merge a repeated embedded message field that occurs twice and append to repeated fields,
 * so the parser (ONNX Runtime's) sees the original graph with extra outputs, and every field
 * deep-nrc does not know (functions, metadata, training info, external-data references) stays byte
 * for byte.
 * @module
 */
import { modelType } from "./proto.js";

/**
 * The model's bytes followed by a ModelProto that only adds `names` as graph outputs (see the
 * module note: protobuf merges the two).
 */
export async function appendGraphOutputs(
  fn: string,
  bytes: Uint8Array,
  names: readonly string[],
): Promise<Uint8Array> {
  if (names.length === 0) return bytes;
  const T = await modelType(fn);
  const extra = T.encode(T.fromObject({ graph: { output: names.map((name) => ({ name })) } }))
    .finish()
    .slice();
  const out = new Uint8Array(bytes.length + extra.length);
  out.set(bytes, 0);
  out.set(extra, bytes.length);
  return out;
}
