/**
 * Accuracy of the exact products from integer slices (src/backends/slices.ts) against a longdouble
 * numpy reference (bench/slices_accuracy.py), on heavy-tailed columns with large means: the digit
 * products are emulated in float64 (exact here: every partial sum is an integer below 2^53), so
 * the result is what the GPU kernel returns, for 5 digits (the default) and 4; wasm's and js's
 * float64 shifted moments beside them.
 *
 *   npx tsx bench/slices-accuracy.ts [dir] && python3 bench/slices_accuracy.py [dir]
 */
import { writeFileSync, mkdirSync } from "node:fs";
import {
  prepSlices,
  fillDigits,
  slicePairs,
  pairWeight,
  addPair,
  finishSliced,
  type SliceFormat,
} from "../src/backends/slices.js";
import { wasmBackend } from "../src/backends/wasm/index.js";
import { jsKernels } from "../src/backends/js/index.js";
// heavy-tailed columns with large means
const dir = process.argv[2] ?? "/tmp/deep-nrc-slices";
mkdirSync(dir, { recursive: true });
const m = 4000,
  n = 48;
let s = 7;
const u = () => {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  return (s + 0.5) / 4294967296;
};
const data = new Float64Array(m * n);
for (let r = 0; r < m; r++)
  for (let j = 0; j < n; j++) {
    const g = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    const t = Math.pow(u(), -0.7); // heavy tail
    data[r * n + j] = 1000 * (j + 1) + g * (1 + j * 0.1) * (j % 3 === 0 ? t : 1);
  }
const a = { rows: m, cols: n, data };
writeFileSync(`${dir}/a.bin`, Buffer.from(data.buffer));
const shift = new Float64Array(n);
for (let j = 0; j < n; j++) {
  let t = 0;
  for (let r = 0; r < 64; r++) t += data[r * n + j];
  shift[j] = t / 64;
}
writeFileSync(`${dir}/shift.bin`, Buffer.from(shift.buffer));
function emulate(fmt: SliceFormat) {
  const p = prepSlices(a, fmt);
  const D = fmt.digits;
  const dig = new Float64Array(D * m * n);
  fillDigits(a, p, fmt, 0, m, dig as unknown as Float32Array, m * n);
  const acc = new Float64Array(n * n);
  for (const [k, l] of slicePairs(fmt, true)) {
    const P = new Float64Array(n * n);
    for (let r = 0; r < m; r++)
      for (let i = 0; i < n; i++) {
        const x = dig[k * m * n + r * n + i];
        if (x === 0) continue;
        for (let j = 0; j < n; j++) P[i * n + j] += x * dig[l * m * n + r * n + j];
      }
    addPair(acc, n, n, pairWeight(fmt, k, l), true, k === l, (x) => P[x]);
  }
  return finishSliced(acc, p, p, true, shift, shift).data;
}
const out: Record<string, number[]> = {};
out.d5 = Array.from(emulate({ first: 12, bits: 13, digits: 5 }));
out.d4 = Array.from(emulate({ first: 12, bits: 13, digits: 4 }));
const k = await wasmBackend({ threads: 1 }).init();
out.wasm = Array.from(
  (await k.shiftedMoments!(a, shift, { rows: m, cols: 1, data: new Float64Array(m) })).gram.data,
);
out.js = Array.from(
  (await jsKernels.shiftedMoments(a, shift, { rows: m, cols: 1, data: new Float64Array(m) })).gram
    .data,
);
await k.dispose?.();
writeFileSync(`${dir}/out.json`, JSON.stringify(out));
console.log("done");
