import { afterAll } from "vitest";
import { forEachWasmBuild } from "../helpers/wasm-builds.js";
import { runGoldenSuite, worst } from "./suite.js";

// Both wasm builds (plain SIMD, fused multiply-adds), each on kernels started once for the file.
forEachWasmBuild((name, kernels) => runGoldenSuite(name, kernels));

afterAll(() => {
  if (process.env.NRC_PRINT_ACCURACY) console.table(worst);
});
