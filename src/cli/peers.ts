/**
 * The optional peer packages a CLI run will need, checked before any work starts: `--report`
 * draws with vega and vega-lite, an ONNX model runs in onnxruntime-web (its graph read with
 * protobufjs). A missing one is an error naming the option and the install line, before a long
 * measurement instead of after it.
 * @module
 */
import { NRCInputError } from "../errors.js";

/** What a run will use. */
export interface PeerNeeds {
  /** `--report` was given (the HTML report's figures). */
  report?: boolean;
  /** An ONNX model is measured or listed. */
  onnx?: boolean;
}

/** Imports each package; the names of those that cannot be imported. */
async function missing(imports: Record<string, () => Promise<unknown>>): Promise<string[]> {
  const out: string[] = [];
  for (const [name, load] of Object.entries(imports)) await load().catch(() => void out.push(name));
  return out;
}

/**
 * Throws, before any work, when a package a run will need is not installed.
 * @param needs - what the run will use.
 * @param load - the importers (tests replace them); by default the packages themselves.
 * @throws NRCInputError naming `--report` or the model, with the `npm i` line.
 */
export async function requirePeers(
  needs: PeerNeeds,
  load: Record<string, () => Promise<unknown>> = PEERS,
): Promise<void> {
  const wanted: [boolean | undefined, string, string[], string][] = [
    [needs.onnx, "model", ["onnxruntime-web", "protobufjs"], "an ONNX model"],
    [needs.report, "--report", ["vega", "vega-lite"], "--report"],
  ];
  for (const [on, arg, names, who] of wanted) {
    if (!on) continue;
    const gone = await missing(Object.fromEntries(names.map((n) => [n, load[n]])));
    if (gone.length)
      throw new NRCInputError(
        "deep-nrc",
        arg,
        `${who} needs the optional package${gone.length > 1 ? "s" : ""} ${gone.join(" and ")}, not installed here: npm i ${names.join(" ")}`,
      );
  }
}

/** The packages, imported as the code that uses them imports them. */
const PEERS: Record<string, () => Promise<unknown>> = {
  vega: () => import("vega"),
  "vega-lite": () => import("vega-lite"),
  "onnxruntime-web": () => import("onnxruntime-web"),
  protobufjs: () => import("protobufjs/light.js"),
};
