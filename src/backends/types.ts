/**
 * The small kernel interface every backend implements.
 *
 * All matrices are dense, row-major, float64 ({@link Mat}). Every kernel may return a value or a
 * Promise (WASM with worker threads and WebGPU are asynchronous); callers always `await`.
 * Kernels never mutate their inputs. A backend may implement any subset: whatever it lacks is
 * filled in from the JS kernels by {@link completeKernels}.
 *
 * @module
 */

/** A dense row-major float64 matrix: element (i, j) is `data[i * cols + j]`. */
export interface Mat {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

/**
 * A dense row-major matrix of float32 values (e.g. a batch read from a float32 `.npy` file
 * without converting it). Accepted as the data argument A of {@link Kernels.shiftedMoments},
 * {@link Kernels.startShiftedMoments}, {@link MomentsRun.add} and {@link Kernels.normalStep}:
 * its entries are widened to float64 exactly where they are read and every product and sum is
 * float64, so the results are bit for bit those of the same call on the widened matrix. (The
 * wasm backend copies the float32 rows into its memory as they are, half the bytes, and widens
 * them in its kernels' packing; the JS kernels read the entries as numbers.)
 */
export interface MatF32 {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}

/** A value or a promise of it. */
export type MaybePromise<T> = T | Promise<T>;

/** Eigen-decomposition of a symmetric matrix. */
/** Options of {@link Kernels.symEig}. */
export interface SymEigOptions {
  /** How many leading eigenvectors are needed (default: all). */
  vectors?: number;
}

export interface SymEigResult {
  /** Eigenvalues in descending order (length n). */
  values: Float64Array;
  /** n×n matrix whose column j is the unit eigenvector of `values[j]`. */
  vectors: Mat;
}

/** What {@link Kernels.topEig} returns: the k leading eigenpairs. */
export interface TopEigResult {
  /** The k largest eigenvalues, descending. */
  values: Float64Array;
  /** n×k, column j the unit eigenvector of `values[j]`. */
  vectors: Mat;
}

/** Thin singular value decomposition `A = U·diag(S)·Vᵀ` of an m×n matrix, k = min(m, n). */
export interface SvdResult {
  /** m×k, orthonormal columns. */
  U: Mat;
  /** Singular values, descending, length k. */
  S: Float64Array;
  /** n×k, orthonormal columns. */
  V: Mat;
}

/** Options of {@link Kernels.svdParts}. */
export interface SvdPartsOptions {
  /** How many leading right singular vectors to return (default 0: none). */
  rightVectors?: number;
  /** m×q right-hand sides: return Uᵀ·B (k×q, k = min(m, n)) without forming U. */
  b?: Mat;
}

/** What {@link Kernels.svdParts} returns. */
export interface SvdPartsResult {
  /** The k = min(m, n) singular values, descending. */
  S: Float64Array;
  /** n×rightVectors, column j the right singular vector of S[j] (absent when none asked). */
  V?: Mat;
  /** k×q: Uᵀ·B, row j belonging to S[j] (absent when no b). */
  UtB?: Mat;
}

/** What {@link Kernels.normalStep} returns. */
export interface NormalStepResult {
  /** `Aᵀ(B − A·X)`, n×q. */
  g: Mat;
  /** Squared column norms of `B − A·X`. */
  rss: Float64Array;
}

/** A {@link Kernels.startShiftedMoments} in progress. */
export interface PendingMoments {
  /**
   * Waits for the moments (the calling thread helps with what is left) and returns them; `rows`,
   * where the backend kept its copy of A, is A (same data) as a matrix that this backend's
   * `normalStep` reads from that copy instead of copying A again — valid until the next
   * `startShiftedMoments` is joined, and only while A's data is left unchanged.
   */
  join(): MaybePromise<ShiftedMomentsResult & { rows?: Mat | MatF32 }>;
}

/** What {@link Kernels.shiftedMoments} returns. */
export interface ShiftedMomentsResult {
  /** `Σᵢ (aᵢ − s)(aᵢ − s)ᵀ`, n×n (full symmetric). */
  gram: Mat;
  /** `Σᵢ (aᵢ − s)·bᵢᵀ`, n×q. */
  cross: Mat;
  /** `Σᵢ (aᵢ − s)`, length n. */
  sums: Float64Array;
}

/**
 * A running {@link Kernels.shiftedMoments} about a fixed shift `s`, kept by the backend between
 * calls: the streaming accumulator adds each batch of a layer to one run instead of reducing,
 * copying out and merging a d×d result per batch. The sums are exactly those of one
 * `shiftedMoments` call over all rows added.
 */
export interface MomentsRun {
  /**
   * Adds the rows of A (m×n, about the shift; float64, or float32 as a {@link MatF32}) and of B
   * (m×q, as given).
   */
  add(a: Mat | MatF32, b: Mat): MaybePromise<void>;
  /** `Σ(aᵢ − s)` and the diagonal of `Σ(aᵢ − s)(aᵢ − s)ᵀ` so far (O(n) to read). */
  probe(): { sums: Float64Array; diag: Float64Array };
  /** Everything added so far (the run goes on). */
  result(): ShiftedMomentsResult;
  /**
   * Frees what the run holds in the backend (wasm: ~parts·(n² + nq) doubles of module memory);
   * the run cannot be used afterwards. A run never disposed holds it until the backend is.
   */
  dispose(): void;
}

/**
 * Householder QR of an m×n matrix A (thin, k = min(m, n)) applied to right-hand sides B (m×q).
 * `A = Q·R`; the reflectors are applied to B so that `QᵀB` is available without forming Q.
 */
export interface QrResult {
  /** k×n upper-trapezoidal factor. */
  R: Mat;
  /** k×q: the first k rows of `QᵀB` (absent when B was not given). */
  QtB?: Mat;
  /**
   * Length q: the squared norm of the remaining m−k rows of `QᵀB` per column, i.e. the squared
   * distance of each column of B from the column space of A (absent when B was not given).
   */
  residualSq?: Float64Array;
  /** m×k orthonormal Q, only when requested with `wantQ`. */
  Q?: Mat;
}

/** What {@link Kernels.projectedTail} returns. */
export interface ProjectedTailResult {
  /** `Σᵢ ‖(aᵢ − μ) − V·Vᵀ(aᵢ − μ)‖²`. */
  tail: number;
  /** `Σᵢ ((aᵢ − μ)·v_j)²` per column j of V. */
  energy: Float64Array;
}

/**
 * What {@link Kernels.lowGram} returns: a Gram of reduced precision (float32 products, summed in
 * float32 over `blockRows` rows at most, then in float64), with the exact float64 column sums
 * and squares beside it.
 */
export interface LowGramResult {
  /** ≈ `Σ(aᵢ − s)(aᵢ − s)ᵀ` (n×n, symmetric): a starting point and preconditioner only. */
  gram: Mat;
  /** `Σ(aᵢ − s)` per column, in float64 from the unrounded differences. */
  sums: Float64Array;
  /** `Σ(aᵢ − s)²` per column, in float64. */
  squares: Float64Array;
  /** Rows summed in float32 before each float64 accumulation (for the error bound). */
  blockRows: number;
  /** The unit roundoff of the products (2⁻²⁴ for float32). */
  unitRoundoff: number;
}

/** What {@link Kernels.subspacePass} returns. */
export interface SubspacePassResult {
  /** `HcᵀHc·V` (n×k), Hc = A − 1·μᵀ, accumulated in float64. */
  w: Mat;
  /** `Σᵢ ‖xᵢ − V_t·V_tᵀxᵢ‖²`, V_t the first t columns of V, each residual formed entry by entry. */
  tail: number;
  /** `Σᵢ ‖xᵢ‖²` (the trace of HcᵀHc). */
  trace: number;
}

/** The kernels a backend provides. All optional except `name`. */
export interface Kernels {
  readonly name: string;
  /** `AᵀA` (n×n, full symmetric) of an m×n matrix, accumulated in float64. */
  gram?(a: Mat): MaybePromise<Mat>;
  /** `AᵀB` (n×q) of m×n A and m×q B, accumulated in float64. */
  crossProd?(a: Mat, b: Mat): MaybePromise<Mat>;
  /** `A·B`. */
  matmul?(a: Mat, b: Mat): MaybePromise<Mat>;
  /**
   * Eigenpairs of a symmetric n×n matrix (only the lower triangle need be read): every eigenvalue,
   * and the eigenvectors of the largest `opts.vectors` of them (default all; a backend may return
   * more columns than asked).
   */
  symEig?(a: Mat, opts?: SymEigOptions): MaybePromise<SymEigResult>;
  /**
   * The k largest eigenvalues of a symmetric n×n matrix (only the lower triangle need be read) and
   * their eigenvectors, as accurate as {@link Kernels.symEig}'s; for when nothing else of the
   * spectrum is needed, so an implementation may skip the full decomposition (the wasm one tries
   * a block Krylov method first).
   */
  topEig?(a: Mat, k: number): MaybePromise<TopEigResult>;
  /** Thin SVD, singular values to high (absolute ε·σ_max) accuracy. */
  svd?(a: Mat): MaybePromise<SvdResult>;
  /**
   * Parts of the thin SVD `A = U·diag(S)·Vᵀ` (m×n, k = min(m, n)) without forming what is not
   * asked: the singular values, the leading `opts.rightVectors` right singular vectors, and
   * `Uᵀ·B` for right-hand sides `opts.b` (U itself is never returned). Accuracy as {@link svd}'s.
   */
  svdParts?(a: Mat, opts?: SvdPartsOptions): MaybePromise<SvdPartsResult>;
  /**
   * One pass of a refined least-squares solve: with `R = B − A·X` (`R = B` when `x` is absent),
   * `g = AᵀR` (n×q) and `rss[c] = Σᵢ R[i][c]²`, R never stored. Also the fast path for AᵀB with
   * few columns. A may be a {@link MatF32}.
   */
  normalStep?(a: Mat | MatF32, b: Mat, x?: Mat): MaybePromise<NormalStepResult>;
  /**
   * Moments about a shift `s` (a guess of A's column means) in one pass over the m×n A, with rows
   * aᵢ: `gram = Σ(aᵢ − s)(aᵢ − s)ᵀ`, `cross = Σ(aᵢ − s)·bᵢᵀ` (B m×q) and `sums = Σ(aᵢ − s)`, all
   * accumulated in float64. With δ = sums/m the centered Gram is `gram − m·δδᵀ` (a tiny correction
   * when s is close to the mean). Where an implementation needs A − 1sᵀ as a copy it may ask
   * `scratch(m·n)` for a reusable buffer (of at least that length) instead of allocating.
   * A may be a {@link MatF32}.
   */
  shiftedMoments?(
    a: Mat | MatF32,
    shift: Float64Array,
    b: Mat,
    scratch?: (length: number) => Float64Array,
  ): MaybePromise<ShiftedMomentsResult>;
  /**
   * {@link shiftedMoments}, started in the background where the backend can (the wasm backend's
   * worker threads compute it while the caller runs other kernels, which then use the calling
   * thread alone); `join()` returns the same result. At most one is pending: starting another
   * completes the previous one first (its `join()` then returns the moments computed then, without
   * `rows`), so callers sharing one backend may interleave. `measureNRC` uses it to take a
   * layer's moments while it finishes the previous layer. Backends without it compute at once.
   */
  startShiftedMoments?(a: Mat | MatF32, shift: Float64Array, b: Mat): PendingMoments;
  /**
   * Starts a {@link MomentsRun} for n feature columns and q columns of B about `shift` (length
   * n); `scratch` as for `shiftedMoments`.
   */
  momentsRun?(
    n: number,
    q: number,
    shift: Float64Array,
    scratch?: (length: number) => Float64Array,
  ): MomentsRun;
  /**
   * Cholesky factor of a symmetric positive definite n×n matrix (only the lower triangle need be
   * read): the lower-triangular L with `A = L·Lᵀ` (upper part zero), or null when A is not
   * numerically positive definite (a pivot ≤ 0).
   */
  cholesky?(a: Mat): MaybePromise<Mat | null>;
  /**
   * The energy of the rows of A − 1·μᵀ off span(V) (V n×k, orthonormal) and along each column of
   * V, in one pass over A (m×n): the covariance spectrum's tail sums read from the data.
   */
  projectedTail?(a: Mat, mean: Float64Array, v: Mat): MaybePromise<ProjectedTailResult>;
  /**
   * The Gram of A − 1·sᵀ with float32 products ({@link LowGramResult}), for the certified
   * spectrum's start; optional (no JS fallback: where absent the float64 path runs).
   * A may be a {@link MatF32}.
   */
  lowGram?(a: Mat | MatF32, shift: Float64Array): MaybePromise<LowGramResult>;
  /**
   * One pass of block subspace iteration on the centered rows xᵢ = aᵢ − μ, in float64:
   * `HcᵀHc·V`, the tail off V's first t columns and the trace ({@link SubspacePassResult}).
   * A may be a {@link MatF32}.
   */
  subspacePass?(
    a: Mat | MatF32,
    mean: Float64Array,
    v: Mat,
    t: number,
  ): MaybePromise<SubspacePassResult>;
  /** Householder QR with optional right-hand sides. */
  qr?(a: Mat, b?: Mat, opts?: { wantQ?: boolean }): MaybePromise<QrResult>;
  /**
   * Whether `shiftedMoments`, `startShiftedMoments`, `momentsRun().add` and `normalStep` take a
   * {@link MatF32} A themselves. Where a backend does not say so, {@link completeKernels} widens
   * such an A to float64 before calling them (the built-in `js` and `wasm` backends say so).
   */
  readonly float32Inputs?: boolean;
  /** Release workers, GPU buffers, … */
  dispose?(): MaybePromise<void>;
}

/** A backend with every kernel present (missing ones filled from JS). */
export type CompleteKernels = Required<Omit<Kernels, "dispose" | "lowGram">> &
  Pick<Kernels, "dispose" | "lowGram">;

/**
 * A backend as users pass it: a name, and a factory that starts it (loads WASM, spawns workers,
 * requests a GPU adapter) or throws why it cannot.
 */
export interface Backend {
  readonly name: string;
  /** Start the backend. Throws an Error saying why it is unavailable. */
  init(): Promise<Kernels>;
}
