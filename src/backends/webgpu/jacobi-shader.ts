/**
 * WGSL source of the WebGPU eigen kernel: one step of parallel one-sided (Hestenes) Jacobi on a
 * batch of symmetric n×n matrices, in float32.
 *
 * W (the matrices, column-major: column j at j·n) and V (the accumulated rotations) hold one n×n
 * block per layer. A step rotates the n/2 disjoint column pairs of the round-robin ("circle")
 * schedule for step s = ctrl.step: pair 0 is (n − 1, s), pair k > 0 is ((s + k) mod (n − 1),
 * (s − k) mod (n − 1)); over n − 1 steps (a sweep) every pair meets once. Workgroup (k, layer)
 * forms α = ‖w_p‖², β = ‖w_q‖², γ = w_p·w_q, and the rotation that makes the two columns
 * orthogonal (ζ = (β − α)/2γ, t = sgn ζ/(|ζ| + √(1 + ζ²)), c = 1/√(1 + t²), s = c·t), applied to
 * W and V. `advance` moves to the next step (a dispatch of its own, so the next step sees every
 * rotation). `ctrl.off` collects max |γ|/√(αβ) over the sweep (float32 bits under `atomicMax`,
 * which order like the values for non-negative floats), read back by the host after each sweep.
 * At convergence W = G·V has orthogonal columns: for a symmetric positive semidefinite G these
 * are λⱼ·vⱼ, so the column norms of W are the eigenvalues and V's columns the eigenvectors.
 *
 * @module
 */

/** The Jacobi step kernel (`rotate`) and the step counter (`advance`). */
export const JACOBI_WGSL = /* wgsl */ `
struct Params {
  n: u32,      // order of every matrix (even; padded with zero rows and columns)
  layers: u32,
  pad0: u32,
  pad1: u32,
};
struct Ctrl {
  step: u32,
  off: atomic<u32>,
};

@group(0) @binding(0) var<storage, read_write> W: array<f32>;
@group(0) @binding(1) var<storage, read_write> V: array<f32>;
@group(0) @binding(2) var<storage, read_write> ctrl: Ctrl;
@group(0) @binding(3) var<uniform> P: Params;

var<workgroup> sa: array<f32, 64>;
var<workgroup> sb: array<f32, 64>;
var<workgroup> sg: array<f32, 64>;
var<workgroup> rot: vec2f;

@compute @workgroup_size(64, 1, 1)
fn rotate(@builtin(workgroup_id) wg: vec3u,
          @builtin(local_invocation_index) li: u32) {
  let n = P.n;
  let m = n - 1u;
  let s = ctrl.step;
  let k = wg.x;
  var p = m;
  var q = s;
  if (k > 0u) {
    p = (s + k) % m;
    q = (s + m - k) % m;
  }
  let cp = wg.y * n * n + p * n;
  let cq = wg.y * n * n + q * n;
  var a = 0.0;
  var b = 0.0;
  var g = 0.0;
  for (var r = li; r < n; r = r + 64u) {
    let x = W[cp + r];
    let y = W[cq + r];
    a = a + x * x;
    b = b + y * y;
    g = g + x * y;
  }
  sa[li] = a;
  sb[li] = b;
  sg[li] = g;
  workgroupBarrier();
  for (var h = 32u; h > 0u; h = h >> 1u) {
    if (li < h) {
      sa[li] = sa[li] + sa[li + h];
      sb[li] = sb[li] + sb[li + h];
      sg[li] = sg[li] + sg[li + h];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    let al = sa[0];
    let be = sb[0];
    let ga = sg[0];
    var c = 1.0;
    var sn = 0.0;
    let scale = sqrt(al) * sqrt(be);
    if (ga != 0.0 && scale > 0.0) {
      atomicMax(&ctrl.off, bitcast<u32>(abs(ga) / scale));
      let z = (be - al) / (2.0 * ga);
      let t = select(-1.0, 1.0, z >= 0.0) / (abs(z) + sqrt(1.0 + z * z));
      c = 1.0 / sqrt(1.0 + t * t);
      sn = c * t;
    }
    rot = vec2f(c, sn);
  }
  workgroupBarrier();
  let cs = rot;
  for (var r = li; r < n; r = r + 64u) {
    let x = W[cp + r];
    let y = W[cq + r];
    W[cp + r] = cs.x * x - cs.y * y;
    W[cq + r] = cs.y * x + cs.x * y;
    let vx = V[cp + r];
    let vy = V[cq + r];
    V[cp + r] = cs.x * vx - cs.y * vy;
    V[cq + r] = cs.y * vx + cs.x * vy;
  }
}

@compute @workgroup_size(1, 1, 1)
fn advance() {
  ctrl.step = (ctrl.step + 1u) % (P.n - 1u);
}
`;
