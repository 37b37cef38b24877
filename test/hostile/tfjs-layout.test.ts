/**
 * `deep-nrc/tfjs` reads tfjs's own conv layout by default: activations NHWC and `conv2d` filters
 * HWIO (what `tf.conv2d`, the op under `tf.layers.conv2d`, takes and returns). Checked against the
 * core on the same tensors transposed by tfjs itself into NCHW / OIHW.
 */
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as core from "../../src/index.js";
import { measureNRC } from "../../src/tfjs/index.js";

const plain4 = async (t: tf.Tensor) => ({
  data: Float64Array.from(await t.data()),
  shape: [...t.shape],
});

describe("deep-nrc/tfjs measureNRC layout", () => {
  it("NHWC activations and HWIO filters of a tf.conv2d layer, by default", async () => {
    await tf.setBackend("cpu");
    const x = tf.randomNormal([12, 5, 4, 3], 0, 1, "float32", 1) as tf.Tensor4D; // NHWC
    const f = tf.randomNormal([3, 3, 3, 6], 0, 1, "float32", 2) as tf.Tensor4D; // HWIO
    const out = tf.relu(tf.conv2d(x, f, 1, "same")) as tf.Tensor4D; // NHWC [12, 5, 4, 6]
    const f2 = tf.randomNormal([1, 1, 6, 4], 0, 1, "float32", 3) as tf.Tensor4D;
    const y = tf.randomNormal([12, 2], 0, 1, "float32", 4) as tf.Tensor2D;
    const got = await measureNRC({
      layers: [
        { name: "conv1", features: x, weight: f },
        { name: "conv2", features: out, weight: f2 },
      ],
      targets: y,
    });
    const want = await core.measureNRC({
      layers: [
        {
          name: "conv1",
          features: await plain4(tf.transpose(x, [0, 3, 1, 2])),
          weight: await plain4(tf.transpose(f, [3, 2, 0, 1])),
        },
        {
          name: "conv2",
          features: await plain4(tf.transpose(out, [0, 3, 1, 2])),
          weight: await plain4(tf.transpose(f2, [3, 2, 0, 1])),
        },
      ],
      targets: { rows: 12, cols: 2, data: Float64Array.from(await y.data()) },
    });
    expect(got.layers.map((l) => [l.samples, l.features])).toEqual([
      [12 * 5 * 4, 3],
      [12 * 5 * 4, 6],
    ]);
    expect(got).toEqual(want);
    expect(got.layers[0].nrc3).not.toBeNull();
    // layout: "NCHW" reads tensors already in the core's layout.
    const nchw = await measureNRC({
      layers: [
        {
          name: "conv1",
          features: tf.transpose(x, [0, 3, 1, 2]),
          weight: tf.transpose(f, [3, 2, 0, 1]),
        },
        {
          name: "conv2",
          features: tf.transpose(out, [0, 3, 1, 2]),
          weight: tf.transpose(f2, [3, 2, 0, 1]),
        },
      ],
      targets: y,
      layout: "NCHW",
    });
    expect(nchw).toEqual(want);
    await expect(
      measureNRC({ layers: [{ features: x }], targets: y, layout: "HWC" as never }),
    ).rejects.toThrow(/measureNRC: layout must be "NHWC" .* got "HWC"/);
  });
});
