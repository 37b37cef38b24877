import { forEachWasmBuild } from "../helpers/wasm-builds.js";
import { runPropertySuite } from "./suite.js";

// Both wasm builds (plain SIMD, fused multiply-adds), each on kernels started once for the file.
forEachWasmBuild((name, kernels) => runPropertySuite(name, kernels));
