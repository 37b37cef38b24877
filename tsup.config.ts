import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    report: "src/viz/index.ts",
    cli: "src/cli/bin.ts",
    node: "src/node.ts",
    webgpu: "src/backends/webgpu/index.ts",
    tfjs: "src/backends/tfjs/index.ts",
    onnx: "src/onnx/index.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  treeshake: true,
});
