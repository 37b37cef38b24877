/**
 * WGSL source of the WebGPU backend's exact kernel: integer products of digit planes (the Ozaki
 * scheme, see `../slices.ts`).
 *
 * The input buffers hold D digit planes of an m×n matrix A (and of an m×q matrix B; for a Gram
 * B = A), plane k at offset k·plane, row-major, digits |d| ≤ 2^12. Workgroup (bx, by, p) computes
 * the 32×32 block (by, bx) of the integer product `S_kᵀ S_l` for the digit pair p = (k, l) of the
 * uniform's pair list, over every row of the upload. Products are ≤ 2^24, so a 32-row block sums
 * to < 2^29 in i32, exactly; each block sum is split as `hi·2^16 + lo` (arithmetic shift, mask)
 * and the halves are accumulated in two i32 words, exact for up to 2^20 rows (lo grows < 2^16 per
 * block). The host reads `(hi, lo)` per entry and recombines in float64. Integer arithmetic has no
 * rounding and no reassociation hazard: the result is the exact integer whatever the compiler does.
 *
 * 64 invocations (8×8, each a 4×4 micro-tile) and 8 KiB of workgroup memory keep within WebGPU's
 * compatibility-mode limits. With `sym = 1`, diagonal pairs (k = l) skip blocks below the
 * diagonal; the host reads only the upper triangle of those.
 *
 * @module
 */

/** Most digit pairs one dispatch can take (the uniform's pair list). */
export const MAX_PAIRS = 32;

/** Rows one upload may hold: the (hi, lo) accumulation is exact up to 2^20 rows. */
export const MAX_INT_ROWS = 1 << 20;

/** The exact integer-product kernel. */
export const INT_PAIRS_WGSL = /* wgsl */ `
struct Params {
  rows: u32,    // rows in this upload
  n: u32,       // columns of A
  q: u32,       // columns of B
  sym: u32,     // 1: B = A (diagonal pairs compute the upper block triangle only)
  planeA: u32,  // elements per digit plane of A
  planeB: u32,  // elements per digit plane of B
  pad0: u32,
  pad1: u32,
  pairs: array<vec4u, ${MAX_PAIRS}>, // (k, l, -, -): the digit planes of A and B
};

@group(0) @binding(0) var<storage, read> A: array<i32>;
@group(0) @binding(1) var<storage, read> B: array<i32>;
@group(0) @binding(2) var<storage, read_write> C: array<i32>;
@group(0) @binding(3) var<uniform> P: Params;

const BS: u32 = 32u;
const KC: u32 = 32u;
var<workgroup> As: array<i32, 1024>; // [k][i], KC × BS
var<workgroup> Bs: array<i32, 1024>; // [k][j], KC × BS

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3u,
        @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let pr = P.pairs[wg.z];
  let i0 = wg.y * BS;
  let j0 = wg.x * BS;
  if (P.sym == 1u && pr.x == pr.y && i0 > j0) {
    return;
  }
  let offA = pr.x * P.planeA;
  let offB = pr.y * P.planeB;
  let mask = vec4i(65535);
  let sh = vec4u(16u);
  var h0 = vec4i(0);
  var h1 = vec4i(0);
  var h2 = vec4i(0);
  var h3 = vec4i(0);
  var l0 = vec4i(0);
  var l1 = vec4i(0);
  var l2 = vec4i(0);
  var l3 = vec4i(0);
  let ti = lid.y * 4u;
  let tj = lid.x * 4u;
  for (var k0 = 0u; k0 < P.rows; k0 = k0 + KC) {
    for (var e = li; e < KC * BS; e = e + 64u) {
      let kk = e / BS;
      let c = e % BS;
      let r = k0 + kk;
      var va = 0;
      var vb = 0;
      if (r < P.rows) {
        if (i0 + c < P.n) {
          va = A[offA + r * P.n + i0 + c];
        }
        if (j0 + c < P.q) {
          vb = B[offB + r * P.q + j0 + c];
        }
      }
      As[e] = va;
      Bs[e] = vb;
    }
    workgroupBarrier();
    var p0 = vec4i(0);
    var p1 = vec4i(0);
    var p2 = vec4i(0);
    var p3 = vec4i(0);
    for (var kk = 0u; kk < KC; kk = kk + 1u) {
      let o = kk * BS;
      let b = vec4i(Bs[o + tj], Bs[o + tj + 1u], Bs[o + tj + 2u], Bs[o + tj + 3u]);
      p0 = p0 + As[o + ti] * b;
      p1 = p1 + As[o + ti + 1u] * b;
      p2 = p2 + As[o + ti + 2u] * b;
      p3 = p3 + As[o + ti + 3u] * b;
    }
    workgroupBarrier();
    h0 = h0 + (p0 >> sh);
    h1 = h1 + (p1 >> sh);
    h2 = h2 + (p2 >> sh);
    h3 = h3 + (p3 >> sh);
    l0 = l0 + (p0 & mask);
    l1 = l1 + (p1 & mask);
    l2 = l2 + (p2 & mask);
    l3 = l3 + (p3 & mask);
  }
  let base = wg.z * P.n * P.q;
  let i = i0 + ti;
  let j = j0 + tj;
  var hs = array<vec4i, 4>(h0, h1, h2, h3);
  var ls = array<vec4i, 4>(l0, l1, l2, l3);
  for (var a = 0u; a < 4u; a = a + 1u) {
    if (i + a < P.n) {
      let hv = hs[a];
      let lv = ls[a];
      for (var b = 0u; b < 4u; b = b + 1u) {
        if (j + b < P.q) {
          let o = 2u * (base + (i + a) * P.q + j + b);
          C[o] = hv[b];
          C[o + 1u] = lv[b];
        }
      }
    }
  }
}
`;
