import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    report: "src/viz/index.ts",
    cli: "src/cli/bin.ts",
    node: "src/node/index.ts",
    webgpu: "src/webgpu/index.ts",
    tfjs: "src/tfjs/index.ts",
    onnx: "src/onnx/index.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  // Shared chunks for CommonJS too (ESM splits by default): the 570 kB of base64 wasm and the
  // core are emitted once per format instead of inside index, tfjs and cli each.
  splitting: true,
  // No source maps in the package (they were 4.4 MB of a 2.6 MB tarball).
  sourcemap: false,
  clean: true,
  target: "node20",
  treeshake: true,
});
