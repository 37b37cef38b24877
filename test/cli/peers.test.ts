/**
 * Optional peers are checked before any work (issue 21): a missing vega/vega-lite for --report,
 * or onnxruntime-web/protobufjs for an ONNX model, is a one-line error with the install line,
 * given before the measurement starts.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { join } from "node:path";
import { NRCInputError } from "../../src/errors.js";
import { requirePeers } from "../../src/cli/peers.js";

const ok = () => Promise.resolve({});
const gone = () => Promise.reject(new Error("Cannot find package"));

describe("requirePeers", () => {
  it("names the missing packages and the install line", async () => {
    const load = { vega: ok, "vega-lite": gone, "onnxruntime-web": gone, protobufjs: gone };
    const e = await requirePeers({ report: true }, load).catch((x) => x);
    expect(e).toBeInstanceOf(NRCInputError);
    expect((e as NRCInputError).arg).toBe("--report");
    expect((e as Error).message).toMatch(
      /needs the optional package vega-lite, .*npm i vega vega-lite$/,
    );
    const o = await requirePeers({ onnx: true }, load).catch((x) => x);
    expect((o as Error).message).toMatch(
      /onnxruntime-node or onnxruntime-web and protobufjs, not installed here: npm i onnxruntime-node protobufjs$/,
    );
    // Either runtime will do.
    for (const rt of ["onnxruntime-node", "onnxruntime-web"])
      await expect(
        requirePeers({ onnx: true }, { ...load, [rt]: ok, protobufjs: ok }),
      ).resolves.toBeUndefined();
    await expect(requirePeers({}, load)).resolves.toBeUndefined();
    await expect(
      requirePeers(
        { report: true, onnx: true },
        { ...load, "vega-lite": ok, "onnxruntime-web": ok, protobufjs: ok },
      ),
    ).resolves.toBeUndefined();
  });
});

describe("the CLI checks them before measuring", () => {
  afterEach(() => {
    vi.doUnmock("vega");
    vi.doUnmock("onnxruntime-web");
    vi.doUnmock("onnxruntime-node");
    vi.resetModules();
  });

  it("an ONNX model without a runtime: exit 1, one line, before reading anything", async () => {
    vi.resetModules();
    vi.doMock("onnxruntime-web", () => {
      throw new Error("Cannot find package 'onnxruntime-web'");
    });
    vi.doMock("onnxruntime-node", () => {
      throw new Error("Cannot find package 'onnxruntime-node'");
    });
    const { main } = await import("../../src/cli/main.js");
    for (const args of [
      ["layers", "no-such-model.onnx"],
      ["measure", "no-such-model.onnx", "--inputs", "x.npy", "--targets", "y.npy"],
    ]) {
      let err = "";
      const code = await main(args, {
        stdout: { write: () => {} },
        stderr: { isTTY: false, write: (s: string) => (err += s) },
        env: {},
      });
      expect(code, args[0]).toBe(1);
      expect(err, args[0]).toBe(
        "deep-nrc: an ONNX model needs the optional package onnxruntime-node or onnxruntime-web, not installed here: npm i onnxruntime-node protobufjs\n",
      );
    }
  });

  it("measure --report without vega: exit 1, one line, nothing measured", async () => {
    vi.resetModules();
    vi.doMock("vega", () => {
      throw new Error("Cannot find package 'vega'");
    });
    const { main } = await import("../../src/cli/main.js");
    let err = "";
    let out = "";
    const net = join(import.meta.dirname, "..", "fixtures", "io", "cli", "net.safetensors");
    for (const args of [
      ["measure", net, "--report", "r.html"],
      ["report", "no-such.nrc.safetensors", "--report", "r.html"],
    ]) {
      err = out = "";
      const code = await main(args, {
        stdout: { write: (s: string) => (out += s) },
        stderr: { isTTY: false, write: (s: string) => (err += s) },
        env: {},
      });
      expect(code, args[0]).toBe(1);
      expect(err, args[0]).toMatch(
        /^deep-nrc: --report needs the optional package vega, not installed here: npm i vega vega-lite\n$/,
      );
      expect(out).toBe("");
    }
  });
});
