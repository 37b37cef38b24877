/**
 * The wasm module's exports as the host sees them (the C kernels' ABI: pointers are byte offsets
 * into the module's memory, sizes are element counts).
 * @module
 */

/** The exports of the compiled C kernels (src/backends/wasm/c/). */
export interface Exports {
  __stack_pointer: WebAssembly.Global;
  pool_init(nt: number, canBlock: number, stackLo: number, stackBytes: number): void;
  pool_shutdown?(): void;
  arena_reset(base: number): void;
  arena_top(): number;
  arena_alloc(bytes: number): number;
  acc_begin(n: number, q: number, m: number): number;
  acc_add(acc: number, a: number, b: number, m: number, n: number, q: number): void;
  acc_end(acc: number, c: number, n: number, q: number, gram: number): void;
  k_matmul(a: number, b: number, c: number, m: number, k: number, n: number): void;
  ns_begin(n: number, q: number, m: number): number;
  ns_add(acc: number, a: number, b: number, xt: number, m: number, n: number, q: number): void;
  ns_end(acc: number, g: number, rss: number, n: number, q: number): void;
  k_symeig(a: number, n: number, k: number, values: number, vecs: number): number;
  k_symeig_path(): number;
  par_join(): void;
  k_topeig(pa: number, n: number, k: number, maxdim: number, pv: number, pz: number): number;
  mom_max_cols(): number;
  k_chol(a: number, n: number): number;
  mom_begin(n: number, q: number, m: number): number;
  mom_add(acc: number, a: number, sh: number, b: number, m: number, n: number, q: number): void;
  mom_add_f32(acc: number, a: number, sh: number, b: number, m: number, n: number, q: number): void;
  mom_add_bg_f32(
    acc: number,
    a: number,
    sh: number,
    b: number,
    m: number,
    n: number,
    q: number,
    avail: number,
  ): void;
  ns_add_f32(acc: number, a: number, b: number, xt: number, m: number, n: number, q: number): void;
  mom_end(acc: number, g: number, x: number, s: number, n: number, q: number): void;
  mom_init(acc: number, n: number, q: number, parts: number): void;
  mom_add_bg(
    acc: number,
    a: number,
    sh: number,
    b: number,
    m: number,
    n: number,
    q: number,
    avail: number,
  ): void;
  mom_bg_avail(rows: number): void;
  mom_parts(n: number, q: number, m: number): number;
  par_bg_join(): void;
  gemm_work_bytes(): number;
  gemm_work_fix(p: number): void;
  mom_probe(acc: number, n: number, q: number, s: number, diag: number): void;
  k_jacobi(bt: number, m: number, n: number, vt: number): number;
  k_projtail(a: number, m: number, n: number, mu: number, vt: number, k: number, out: number): void;
  k_bdsvd(
    a: number,
    m: number,
    n: number,
    s: number,
    wantU: number,
    u: number,
    nv: number,
    v: number,
    z: number,
    q: number,
    utz: number,
  ): number;
  k_qr(
    x: number,
    m: number,
    n: number,
    q: number,
    r: number,
    qtb: number,
    res: number,
    qq: number,
  ): void;
  g32_begin(n: number, m: number): number;
  g32_work_bytes(n: number): number;
  g32_add(
    acc: number,
    a: number,
    af: number,
    sh: number,
    m: number,
    n: number,
    work: number,
    avail: number,
  ): void;
  g32_avail(rows: number): void;
  g32_end(acc: number, g: number, s: number, q: number, n: number): void;
  sp_begin(n: number, k: number, m: number): number;
  sp_work_bytes(n: number, k: number): number;
  sp_add(
    acc: number,
    a: number,
    af: number,
    mu: number,
    v: number,
    m: number,
    n: number,
    k: number,
    t: number,
    work: number,
  ): void;
  sp_end(acc: number, out: number, n: number, k: number): void;
}
