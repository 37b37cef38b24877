/**
 * Batches sized for throughput (src/onnx/batching.ts): bounded by the features' memory, at least
 * the runtime's per-run minimum where memory allows, and enough rows per accumulator call for the
 * widest layer — never the bytes rule that gave a conv model 17 rows.
 */
import { describe, expect, it } from "vitest";
import {
  BATCH_BYTES,
  MAX_BATCH_ROWS,
  MIN_FORWARD_ROWS,
  throughputRows,
} from "../../src/onnx/batching.js";

describe("throughputRows", () => {
  it("a small MLP: the merge's rows for its widest layer, ≥ the per-run minimum", () => {
    const m = {
      bytesPerSample: 4 * (8 + 32 + 16),
      layers: [8, 32, 16].map((d) => ({ d, positions: 1 })),
      q: 3,
    };
    expect(throughputRows(m)).toBe(MIN_FORWARD_ROWS);
    const wide = { ...m, layers: [{ d: 768, positions: 1 }] };
    expect(throughputRows(wide)).toBe(4 * (768 + 3 + 1));
  });

  it("a conv net: memory bounds the batch (ResNet-18 on 32×32: ~2.6 MB of float32 features per image)", () => {
    const resnet = {
      bytesPerSample: 2.6e6,
      layers: [
        { d: 64, positions: 1024 },
        { d: 512, positions: 16 },
        { d: 512, positions: 1 },
      ],
      q: 3,
    };
    const rows = throughputRows(resnet);
    expect(rows).toBe(Math.floor(BATCH_BYTES / 2.6e6));
    expect(rows).toBeGreaterThan(17);
    // A small residual CNN (16–32 channels at 32×32): the per-run minimum fits in memory.
    const small = { bytesPerSample: 4 * 16 * 1024 * 6, layers: [{ d: 16, positions: 1024 }], q: 3 };
    expect(throughputRows(small)).toBe(
      Math.min(MIN_FORWARD_ROWS, Math.floor(BATCH_BYTES / small.bytesPerSample)),
    );
  });

  it("stays within [1, MAX_BATCH_ROWS]", () => {
    expect(throughputRows({ bytesPerSample: 1e12, layers: [{ d: 4, positions: 1 }], q: 1 })).toBe(
      1,
    );
    expect(throughputRows({ bytesPerSample: 1, layers: [{ d: 5000, positions: 1 }], q: 1 })).toBe(
      MAX_BATCH_ROWS,
    );
  });
});
