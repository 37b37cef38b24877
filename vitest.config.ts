import { defineConfig } from "vitest/config";
import SkipReasons from "./test/helpers/skip-reporter.js";

// The wasm backend's fused multiply-add build needs WebAssembly relaxed SIMD: on by default from
// Node 22 (whose V8 no longer knows the flag), behind a V8 flag on Node 20.
const nodeMajor = Number(process.versions.node.split(".")[0]);

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    execArgv: nodeMajor < 22 ? ["--experimental-wasm-relaxed-simd"] : [],
    // The default output, then one line per skipped suite with its reason.
    reporters: ["default", new SkipReasons()],
  },
});
