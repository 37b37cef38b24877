#!/usr/bin/env node
/**
 * Rewrites clang 14's relaxed-SIMD *prototype* fused multiply-add (`f64x2.qfma`, opcode
 * 0xfd 0xcf 0x01, from `__builtin_wasm_fma_f64x2`) to the standardised `f64x2.relaxed_madd`
 * (0xfd 0x87 0x02) in a WebAssembly module, in place (both encodings are three bytes).
 *
 *   node scripts/wasm-relaxed.mjs IN.wasm OUT.wasm
 *
 * Debian 12's clang 14 predates the final relaxed-SIMD opcodes and no engine accepts the
 * prototype's any more. The rewrite walks the code section instruction by instruction (every
 * immediate of the opcodes clang emits is decoded and skipped), so a byte pattern inside an
 * immediate or a data segment is never touched; any other prototype relaxed-SIMD opcode, or an
 * opcode with immediates this walker does not know (the function would not end at its size), is
 * an error rather than a silent pass; the build then checks the result validates. Prints the count.
 * Semantics: qfma(a, b, c) was a + b·c; relaxed_madd(a, b, c) is a·b + c — src/backends/wasm/c/
 * common.h's MADD passes its operands in the order that makes the rewritten opcode acc + x·y.
 */
import { readFileSync, writeFileSync } from "node:fs";

const QFMA_F64X2 = 0xcf;
const RELAXED_MADD_F64X2 = 0x107;
/** The prototype's f64x2.qfms: not used by the kernels, so not rewritten (an error if present). */
const QFMS_F64X2 = 0xd0;

function fail(msg) {
  throw new Error(`wasm-relaxed: ${msg}`);
}

function rewrite(bytes) {
  const b = Uint8Array.from(bytes);
  let p = 0;
  const u32 = () => {
    let r = 0;
    let shift = 0;
    for (;;) {
      const x = b[p++];
      r += (x & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(x & 0x80)) return r;
      if (shift > 63) fail(`bad LEB at ${p}`);
    }
  };
  const skipLeb = () => {
    while (b[p++] & 0x80);
  };
  const memarg = () => (skipLeb(), skipLeb());
  if (b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) fail("not a wasm module");
  p = 8;
  let count = 0;
  while (p < b.length) {
    const id = b[p++];
    const size = u32();
    const end = p + size;
    if (id !== 10) {
      p = end;
      continue;
    }
    const nfun = u32();
    for (let f = 0; f < nfun; f++) {
      const fsize = u32();
      const fend = p + fsize;
      const groups = u32();
      for (let g = 0; g < groups; g++) (skipLeb(), p++);
      while (p < fend) {
        const op = b[p++];
        if (op === 0x02 || op === 0x03 || op === 0x04) {
          const t = b[p];
          if (t === 0x40 || (t >= 0x6f && t <= 0x7f)) p++;
          else skipLeb();
        } else if (op === 0x0c || op === 0x0d || op === 0x10 || (op >= 0x20 && op <= 0x26))
          skipLeb();
        else if (op === 0x0e) {
          const n = u32();
          for (let i = 0; i <= n; i++) skipLeb();
        } else if (op === 0x11) (skipLeb(), skipLeb());
        else if (op === 0x1c) {
          const n = u32();
          p += n;
        } else if (op >= 0x28 && op <= 0x3e) memarg();
        else if (op === 0x3f || op === 0x40) p++;
        else if (op === 0x41 || op === 0x42) skipLeb();
        else if (op === 0x43) p += 4;
        else if (op === 0x44) p += 8;
        else if (op === 0xd0) p++;
        else if (op === 0xd2) skipLeb();
        else if (op === 0xfc) {
          const sub = u32();
          if (sub <= 7) continue;
          if (sub === 8 || sub === 10 || sub === 12 || sub === 14) (skipLeb(), skipLeb());
          else if (sub <= 17) skipLeb();
          else fail(`unknown 0xfc ${sub} at ${p}`);
        } else if (op === 0xfe) {
          const sub = u32();
          if (sub === 0x03) p++;
          else memarg();
        } else if (op === 0xfd) {
          const at = p;
          const sub = u32();
          if (sub === QFMA_F64X2) {
            if (p - at !== 2) fail(`unexpected encoding of f64x2.qfma at ${at}`);
            b[at] = (RELAXED_MADD_F64X2 & 0x7f) | 0x80;
            b[at + 1] = RELAXED_MADD_F64X2 >> 7;
            count++;
          } else if (sub === QFMS_F64X2 || sub > 0xff)
            fail(`relaxed-SIMD opcode 0x${sub.toString(16)} at ${at} has no rewrite`);
          else if (sub <= 0x0b || sub === 0x5c || sub === 0x5d) memarg();
          else if (sub === 0x0c || sub === 0x0d) p += 16;
          else if (sub >= 0x15 && sub <= 0x22) p++;
          else if (sub >= 0x54 && sub <= 0x5b) (memarg(), p++);
        } else if (op > 0xd2 && op < 0xfc) fail(`unknown opcode 0x${op.toString(16)} at ${p - 1}`);
      }
      if (p !== fend) fail(`function ${f} did not end at its size`);
    }
    if (p !== end) fail("code section did not end at its size");
  }
  return { bytes: b, count };
}

const [input, output] = process.argv.slice(2);
if (!input || !output) fail("usage: node scripts/wasm-relaxed.mjs IN.wasm OUT.wasm");
const { bytes, count } = rewrite(readFileSync(input));
if (count === 0) fail(`${input} holds no f64x2.qfma to rewrite`);
writeFileSync(output, bytes);
console.log(`wasm-relaxed: ${count} f64x2.qfma → f64x2.relaxed_madd in ${output}`);
