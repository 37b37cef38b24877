/**
 * Lets the event loop run between layers: the kernels block the thread they are called on, so a
 * caller's reads of the next batch (I/O callbacks) could otherwise only progress between batches.
 * `setImmediate` where it exists (Node), else a resolved promise (no macrotask yield).
 */
export const turnEventLoop: () => Promise<void> =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? () =>
        new Promise((resolve) =>
          (globalThis as unknown as { setImmediate(f: () => void): void }).setImmediate(resolve),
        )
    : () => Promise.resolve();
