/// <reference types="@webgpu/types" />
/**
 * Streams row chunks through one WebGPU compute pipeline, double-buffered: the host fills chunk
 * c + 1 (and `writeBuffer` queues its upload) while the GPU computes chunk c, and each chunk's
 * output is mapped and consumed as soon as it is ready. Both WebGPU kernels (float32 tiles and
 * exact integer digit pairs) use it; their bind group layout is the same: 0 A, 1 B (or A again),
 * 2 the output, 3 the uniform parameters.
 *
 * @module
 */

// WebGPU flag values (spec constants), so that no global `GPUBufferUsage` is needed in Node.
export const USAGE_MAP_READ = 0x0001;
export const USAGE_COPY_SRC = 0x0004;
export const USAGE_COPY_DST = 0x0008;
export const USAGE_UNIFORM = 0x0040;
export const USAGE_STORAGE = 0x0080;
export const MAP_READ = 0x0001;

/** One chunk as the plan prepares it. */
export interface ChunkWork {
  /** What to upload to A and (when the plan has one) B: the filled part of the slot's arrays. */
  a: ArrayBufferView;
  b?: ArrayBufferView;
  /** The uniform parameters (at most `uniformBytes`). */
  params: ArrayBufferView<ArrayBuffer>;
  /** Workgroups to dispatch. */
  groups: [number, number, number];
  /** Bytes of output to read back. */
  readBytes: number;
}

/** What {@link streamChunks} runs. */
export interface StreamPlan {
  /** Total rows and rows per chunk. */
  rows: number;
  rowsPerChunk: number;
  /** Bytes of each slot's A, B (0: none, B = A) and output buffers, and of the uniform. */
  aBytes: number;
  bBytes: number;
  outBytes: number;
  uniformBytes: number;
  /** Per-column data bound at binding 4 for every chunk (the float32 pass's centers and scales). */
  stats?: ArrayBufferView<ArrayBuffer>;
  /** Fills the slot's host arrays with rows [r0, r1) and says what to upload and dispatch. */
  prepare(slot: number, r0: number, r1: number): ChunkWork;
  /** Reads one chunk's output (valid only during the call). */
  consume(out: ArrayBuffer, r0: number, r1: number): void;
}

/** The two slots a plan needs host arrays for (one when everything fits in one chunk). */
export function slotCount(plan: Pick<StreamPlan, "rows" | "rowsPerChunk">): number {
  return plan.rows > plan.rowsPerChunk ? 2 : 1;
}

/**
 * Runs a plan on a device: uploads, dispatches and reads back every chunk, two in flight.
 * GPU validation and out-of-memory errors are turned into thrown Errors; every buffer is
 * destroyed before returning. `alive(where)` throws when the device was lost or disposed.
 */
export async function streamChunks(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  plan: StreamPlan,
  alive: (where: string) => void,
): Promise<void> {
  type Slot = {
    inA: GPUBuffer;
    inB: GPUBuffer | null;
    out: GPUBuffer;
    staging: GPUBuffer;
    uni: GPUBuffer;
    bind: GPUBindGroup;
    pending: Promise<void> | null;
  };
  const nSlots = slotCount(plan);
  const slots: Slot[] = [];
  await withBuffers(device, async (mk) => {
    const stats = plan.stats;
    const statsBuf = stats ? mk(stats.byteLength, USAGE_STORAGE | USAGE_COPY_DST, "S") : null;
    if (stats && statsBuf) device.queue.writeBuffer(statsBuf, 0, stats);
    try {
      for (let s = 0; s < nSlots; s++) {
        const inA = mk(plan.aBytes, USAGE_STORAGE | USAGE_COPY_DST, "A");
        const inB = plan.bBytes > 0 ? mk(plan.bBytes, USAGE_STORAGE | USAGE_COPY_DST, "B") : null;
        const out = mk(plan.outBytes, USAGE_STORAGE | USAGE_COPY_SRC, "C");
        const staging = mk(plan.outBytes, USAGE_MAP_READ | USAGE_COPY_DST, "C staging");
        const uni = mk(plan.uniformBytes, USAGE_UNIFORM | USAGE_COPY_DST, "params");
        const bind = device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: inA } },
            { binding: 1, resource: { buffer: inB ?? inA } },
            { binding: 2, resource: { buffer: out } },
            { binding: 3, resource: { buffer: uni } },
            ...(statsBuf ? [{ binding: 4, resource: { buffer: statsBuf } }] : []),
          ],
        });
        slots.push({ inA, inB, out, staging, uni, bind, pending: null });
      }
      let c = 0;
      for (let r0 = 0; r0 < plan.rows; r0 += plan.rowsPerChunk, c++) {
        const s = c % nSlots;
        const slot = slots[s];
        if (slot.pending) await slot.pending;
        alive("upload");
        const r1 = Math.min(plan.rows, r0 + plan.rowsPerChunk);
        const work = plan.prepare(s, r0, r1);
        upload(device, slot.inA, work.a);
        if (work.b && slot.inB) upload(device, slot.inB, work.b);
        device.queue.writeBuffer(slot.uni, 0, work.params);
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, slot.bind);
        pass.dispatchWorkgroups(...work.groups);
        pass.end();
        const bytes = Math.ceil(work.readBytes / 4) * 4;
        enc.copyBufferToBuffer(slot.out, 0, slot.staging, 0, bytes);
        device.queue.submit([enc.finish()]);
        slot.pending = slot.staging.mapAsync(MAP_READ, 0, bytes).then(() => {
          try {
            plan.consume(slot.staging.getMappedRange(0, bytes), r0, r1);
          } finally {
            slot.staging.unmap();
          }
        });
      }
      for (const s of slots) if (s.pending) await s.pending;
    } finally {
      await Promise.allSettled(slots.map((s) => s.pending));
    }
  });
  alive("readback");
}

/**
 * Queues a copy of a view's bytes into a buffer: a user's float32 rows may live in a
 * SharedArrayBuffer, which `writeBuffer` takes as a buffer with byte offsets.
 */
function upload(device: GPUDevice, buf: GPUBuffer, view: ArrayBufferView): void {
  device.queue.writeBuffer(buf, 0, view.buffer as ArrayBuffer, view.byteOffset, view.byteLength);
}

/**
 * Runs `f` with a buffer factory inside GPU error scopes: every buffer made is destroyed when `f`
 * settles, and a validation or out-of-memory error the GPU reported meanwhile is thrown.
 */
export async function withBuffers<T>(
  device: GPUDevice,
  f: (mk: (size: number, usage: number, label: string) => GPUBuffer) => Promise<T>,
): Promise<T> {
  const buffers: GPUBuffer[] = [];
  const mk = (size: number, usage: number, label: string): GPUBuffer => {
    const buf = device.createBuffer({
      size: Math.max(16, Math.ceil(size / 16) * 16),
      usage,
      label,
    });
    buffers.push(buf);
    return buf;
  };
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  try {
    return await f(mk);
  } finally {
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    for (const buf of buffers) buf.destroy();
    if (validation) throw new Error(`webgpu backend: GPU validation error: ${validation.message}`);
    if (oom) throw new Error(`webgpu backend: GPU out of memory: ${oom.message}`);
  }
}
