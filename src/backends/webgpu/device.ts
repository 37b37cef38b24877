/// <reference types="@webgpu/types" />
/**
 * Getting a WebGPU device: from the caller, from `navigator.gpu`, or in Node from the optional peer
 * `webgpu` (Dawn), falling back to Mesa's llvmpipe through OpenGL ES where no hardware adapter
 * exists.
 *
 * @module
 */
import { importPeer } from "../peer.js";

/**
 * WebGPU's `GPUDevice` where the WebGPU type declarations (`@webgpu/types`, a dependency of the
 * `webgpu` package) are loaded, `object` elsewhere, so that these declarations never require them.
 */
export type WebGPUDevice = typeof globalThis extends { GPUDevice: { prototype: infer D } }
  ? D
  : object;
/** WebGPU's `GPU` (`navigator.gpu`) where the WebGPU types are loaded, `object` elsewhere. */
export type WebGPUEntry = typeof globalThis extends { GPU: { prototype: infer G } } ? G : object;

/** What {@link acquire} reads of the backend's options. */
export interface AcquireOptions {
  device?: WebGPUDevice;
  gpu?: WebGPUEntry;
  allowSoftware?: boolean;
}

/** A device and what keeps it alive. */
export interface Acquired {
  device: GPUDevice;
  owned: boolean;
  info: string;
  /** Keeps the Dawn instance alive while the device is in use; dropped on dispose. */
  keepAlive: unknown;
}

function describeAdapter(adapter: GPUAdapter): string {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  if (!info) return "unknown adapter";
  const parts = [info.vendor, info.architecture, info.device, info.description].filter(
    (s) => typeof s === "string" && s.length > 0,
  );
  return parts.length > 0 ? parts.join(" · ") : "unknown adapter";
}

async function requestAny(gpu: GPU): Promise<GPUAdapter | null> {
  let adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    // WebGPU compatibility mode (OpenGL ES–class adapters). Unknown keys are ignored where unsupported.
    adapter = await gpu.requestAdapter({
      featureLevel: "compatibility",
    } as GPURequestAdapterOptions);
  }
  return adapter;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

async function openDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const lim = adapter.limits;
  return adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
    },
  });
}

export async function acquire(opts: AcquireOptions): Promise<Acquired> {
  if (opts.device)
    return { device: opts.device, owned: false, info: "user device", keepAlive: null };
  let gpu: GPU | undefined =
    opts.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu ?? undefined;
  if (gpu) {
    const adapter = await requestAny(gpu);
    if (!adapter)
      throw new Error("webgpu backend: navigator.gpu.requestAdapter() returned no adapter");
    return {
      device: await openDevice(adapter),
      owned: true,
      info: describeAdapter(adapter),
      keepAlive: gpu,
    };
  }
  if (!isNode())
    throw new Error(
      "webgpu backend: WebGPU is unavailable here (no navigator.gpu); pass { device } or { gpu }",
    );
  // Through a variable specifier: bundlers leave the Node-only peer alone (the core names this backend).
  const mod = await importPeer<{ create(options: string[]): GPU }>(
    "webgpu",
    "webgpu backend: no navigator.gpu, and the optional peer package 'webgpu' could not be loaded (npm i webgpu)",
  );
  gpu = mod.create([]);
  let adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter && opts.allowSoftware !== false) {
    // Mesa llvmpipe through OpenGL ES; EGL needs a platform without a display server.
    const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process!
      .env;
    if (env.EGL_PLATFORM === undefined) env.EGL_PLATFORM = "surfaceless";
    gpu = mod.create(["backend=opengles"]);
    adapter = await gpu.requestAdapter({
      featureLevel: "compatibility",
    } as GPURequestAdapterOptions);
  }
  if (!adapter)
    throw new Error(
      "webgpu backend: the 'webgpu' package found no adapter (no Vulkan/Metal/D3D GPU" +
        (opts.allowSoftware === false
          ? ", and allowSoftware is false)"
          : ", and no OpenGL ES software adapter: install Mesa's libegl1 libegl-mesa0 libgles2)"),
    );
  return {
    device: await openDevice(adapter),
    owned: true,
    info: describeAdapter(adapter),
    keepAlive: gpu,
  };
}
