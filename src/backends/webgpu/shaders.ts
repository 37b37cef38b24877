/**
 * WGSL source of the WebGPU backend's float32 pass (`precision: "float32"`, `lowGram`):
 * per-row-tile partial cross products.
 *
 * For an m×n matrix A and an m×q matrix B (row-major float32, centered and column-scaled on the
 * host, or — float32 sources uploaded as they are — as they are read: (x − c)·s, one rounding, s a
 * power of two), workgroup (bx, by, tile) computes the 32×32 output block
 * `C_tile[by·32 .. , bx·32 ..] = A[rows of tile, :]ᵀ · B[rows of tile, :]` in float32 and writes it
 * to `C[tile][i][j]` (`C` holds one n×q partial product per row tile). The host reads every tile's
 * partial product back and sums the tiles in float64, so float32 rounding accumulates over at
 * most `tileRows` terms.
 *
 * 64 invocations per workgroup (8×8, each a 4×4 micro-tile) keeps within WebGPU's
 * compatibility-mode limit of 128 invocations; 2 × 32×32 floats of workgroup memory (8 KiB) within
 * its 16 KiB. With `sym = 1` (a Gram matrix, A = B) blocks strictly below the diagonal are skipped;
 * the host mirrors the upper triangle.
 *
 * @module
 */

/** Output block edge (rows and columns of C per workgroup). */
export const BLOCK = 32;

/** The partial cross-product kernel. */
export const CROSS_TILES_WGSL = /* wgsl */ `
struct Params {
  rows: u32,     // rows of A and B in this upload
  n: u32,        // columns of A (rows of C)
  q: u32,        // columns of B (columns of C)
  tileRows: u32, // rows per tile
  sym: u32,      // 1: A = B, compute the upper block triangle only
  pad0: u32,
  pad1: u32,
  pad2: u32,
};

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;
// Per column, centers and power-of-two scales applied as the rows are read, (x − c)·s:
// [c_A (n), s_A (n), c_B (q), s_B (q)] (0 and 1 where the host centered and scaled already).
@group(0) @binding(4) var<storage, read> S: array<f32>;

const BS: u32 = 32u;
const KC: u32 = 32u;
var<workgroup> As: array<f32, 1024>; // [k][i], KC × BS
var<workgroup> Bs: array<f32, 1024>; // [k][j], KC × BS

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3u,
        @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i0 = wg.y * BS;
  let j0 = wg.x * BS;
  if (P.sym == 1u && i0 > j0) {
    return;
  }
  let r0 = wg.z * P.tileRows;
  let r1 = min(r0 + P.tileRows, P.rows);
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  var q0 = vec4f(0.0);
  var q1 = vec4f(0.0);
  var q2 = vec4f(0.0);
  var q3 = vec4f(0.0);
  var nq = 0u;
  let ti = lid.y * 4u;
  let tj = lid.x * 4u;
  for (var k0 = r0; k0 < r1; k0 = k0 + KC) {
    for (var e = li; e < KC * BS; e = e + 64u) {
      let kk = e / BS;
      let c = e % BS;
      let r = k0 + kk;
      var va = 0.0;
      var vb = 0.0;
      if (r < r1) {
        if (i0 + c < P.n) {
          va = (A[r * P.n + i0 + c] - S[i0 + c]) * S[P.n + i0 + c];
        }
        if (j0 + c < P.q) {
          vb = (B[r * P.q + j0 + c] - S[2u * P.n + j0 + c]) * S[2u * P.n + P.q + j0 + c];
        }
      }
      As[e] = va;
      Bs[e] = vb;
    }
    workgroupBarrier();
    var p0 = vec4f(0.0);
    var p1 = vec4f(0.0);
    var p2 = vec4f(0.0);
    var p3 = vec4f(0.0);
    for (var kk = 0u; kk < KC; kk = kk + 1u) {
      let o = kk * BS;
      let b = vec4f(Bs[o + tj], Bs[o + tj + 1u], Bs[o + tj + 2u], Bs[o + tj + 3u]);
      p0 = p0 + As[o + ti] * b;
      p1 = p1 + As[o + ti + 1u] * b;
      p2 = p2 + As[o + ti + 2u] * b;
      p3 = p3 + As[o + ti + 3u] * b;
    }
    workgroupBarrier();
    // Three-level summation (32 rows → 1024 rows → tile) bounds float32 rounding growth.
    q0 = q0 + p0;
    q1 = q1 + p1;
    q2 = q2 + p2;
    q3 = q3 + p3;
    nq = nq + 1u;
    if (nq == 32u) {
      acc0 = acc0 + q0;
      acc1 = acc1 + q1;
      acc2 = acc2 + q2;
      acc3 = acc3 + q3;
      q0 = vec4f(0.0);
      q1 = vec4f(0.0);
      q2 = vec4f(0.0);
      q3 = vec4f(0.0);
      nq = 0u;
    }
  }
  let base = wg.z * P.n * P.q;
  let i = i0 + ti;
  let j = j0 + tj;
  var rowsAcc = array<vec4f, 4>(acc0 + q0, acc1 + q1, acc2 + q2, acc3 + q3);
  for (var a = 0u; a < 4u; a = a + 1u) {
    if (i + a < P.n) {
      let v = rowsAcc[a];
      for (var b = 0u; b < 4u; b = b + 1u) {
        if (j + b < P.q) {
          C[base + (i + a) * P.q + j + b] = v[b];
        }
      }
    }
  }
}
`;
