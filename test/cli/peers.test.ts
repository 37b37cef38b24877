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
      /onnxruntime-web and protobufjs, not installed here: npm i onnxruntime-web protobufjs$/,
    );
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
    vi.resetModules();
  });

  it("an ONNX model without onnxruntime-web: exit 1, one line, before reading anything", async () => {
    vi.resetModules();
    vi.doMock("onnxruntime-web", () => {
      throw new Error("Cannot find package 'onnxruntime-web'");
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
        "deep-nrc: an ONNX model needs the optional package onnxruntime-web, not installed here: npm i onnxruntime-web protobufjs\n",
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
