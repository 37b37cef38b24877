/**
 * Streaming, mergeable measurement: {@link createNRCAccumulator} keeps only per-layer sufficient
 * statistics (see `stats.ts`), so activations far larger than memory can be measured batch by
 * batch, shard by shard, and the partial states combined (`merge`, `toJSON`/`fromJSON`) in any
 * map-reduce engine. `finalize()` returns the same report as `measureNRC` on all rows at once,
 * within ~1e-13 relative, for any batching.
 *
 * NRC4 needs more than moments: in a collapsed layer the residual is ~1e-7 of ‖Yc‖², so a
 * residual read off the Grams (‖Yc‖² − explained) has no correct digits. Two ways to get it:
 * - `nrc4: "tsqr"` (default, one pass): each batch's [H | Y | 1] is QR-factorised and the
 *   triangular factors are merged (TSQR); ~7–8× the Gram's time at 1024–2048-row batches.
 * - `nrc4: "rescan"` (two passes, for data that can be read again, e.g. files): the first pass
 *   keeps only moments (the Gram's cost; a layer's batches accumulate inside the backend between
 *   reads of the state, see `MomentsAccumulation`); `finalize({ rescan })` then reads the batches again
 *   and refines the least-squares solution against them (`Refinement`, usually one pass of
 *   N·d·q per layer), falling back to one TSQR pass for a layer whose Gram does not prove the
 *   refinement safe. Moments and refinement sums both merge, so shards still combine.
 * @module
 */
import type { CompleteKernels, Mat, MatF32 } from "../backends/types.js";
import { widenMat } from "../linalg/center.js";
import {
  initBackend,
  autoBackend,
  AUTO_BACKEND_MIN_WORK,
  type BackendOption,
} from "../backends/registry.js";
import { jsKernels } from "../backends/js/index.js";
import { NRCInputError } from "../errors.js";
import type { MatrixInput } from "../linalg/matrix.js";
import type { TensorInput } from "../io/conv.js";
import type { NRCReport, Preset } from "./report.js";
import { checkDim, checkKeys, checkPreset } from "../metrics/validate.js";
import {
  DEFAULT_COLLAPSE_THRESHOLD,
  LAYER_BOUND,
  assembleReport,
  asMatrix,
  degenerateReason,
  finalizeLayer,
  layerGramSolver,
  layerSpectrum,
  spectrumVectors,
  nrc4Rtol,
  prepareLayer,
  repeatRows,
  roughWork,
  weightMatrix,
  type Ctx,
  type LayerExtras,
  type PreparedLayer,
} from "./measure.js";
import {
  augmented,
  batchStats,
  centerWith,
  MomentsAccumulation,
  mergeMoments,
  mergeStats,
  nrc4Residual,
  stackRows,
  statsFromJSON,
  statsToJSON,
  type LayerStats,
} from "../stats/moments.js";
import { Refinement } from "../linalg/lstsq.js";
import { decodeState, encodeState } from "../state/binary.js";
import { stateFromJSON, stateToJSON, type AccumulatorState } from "../state/json.js";
import { checkCompatible } from "../state/merge-compat.js";
import {
  newStateId,
  unionSources,
  type StateOptions,
  type StateSnapshot,
} from "../state/snapshot.js";
import { hsicBatch, hsicDebiasedSums, hsicMerge, type HsicSums } from "../stats/hsic.js";
import type { Spectrum } from "../linalg/spectrum.js";

/** Options of {@link createNRCAccumulator}. */
export interface AccumulatorOptions {
  /** One weight per layer (matrix or conv filters), or null where a layer has none. */
  weights?: readonly (MatrixInput | TensorInput | null)[];
  /** Layer names. */
  names?: readonly string[];
  /** Signal dimension (default: the number of target columns). */
  t?: number;
  /** Intrinsic dimension. */
  r?: number;
  /** `paper` (default) or `reference-code`. */
  preset?: Preset;
  /** The model's train MSE. */
  modelMSE?: number;
  /** NRC1 threshold for "collapsed" (default 0.01). */
  collapseThreshold?: number;
  /**
   * Backend (default: {@link autoBackend} when the first batch is large, ≥ 10⁷ flops, else the JS
   * kernels). Started once, on first use; call `dispose()` when done to stop its workers.
   */
  backend?: BackendOption;
  /**
   * How NRC4 is obtained: `"tsqr"` (default) keeps a TSQR factor, one pass; `"rescan"` keeps
   * only moments (about the Gram's cost per batch) and needs the same batches once more at
   * `finalize({ rescan })`. Same results either way (to ~1e-12).
   */
  nrc4?: "tsqr" | "rescan";
  /**
   * NRC2 as debiased CKA (unbiased HSIC; see `linearCKA`). In the accumulator only with preset
   * `reference-code` (CKA of H[:, :t] and Y, whose extra running sums merge; the paper's NRC2
   * projects onto the top-t eigenvectors, known only at the end, and would need fourth moments
   * along them): use `measureNRC({ debiased: true })` for the paper preset.
   */
  debiased?: boolean;
}

/** Options of {@link NRCAccumulator.finalize}. */
export interface FinalizeOptions {
  /**
   * `rescan` mode: returns the same batches again (same samples, any batching and order), each
   * call a fresh iteration; called once or a few times.
   */
  rescan?: () => AsyncIterable<AccumulatorBatch> | Iterable<AccumulatorBatch>;
}

/** One batch: the features of every layer for the same samples, and their targets. */
export interface AccumulatorBatch {
  features: readonly (MatrixInput | TensorInput)[];
  targets: MatrixInput;
}

export type { AccumulatorState } from "../state/json.js";

/** Options of {@link NRCAccumulator.merge}. */
export interface MergeOptions {
  /**
   * Merge even when both states hold the samples of one state (e.g. a shard merged twice): they
   * are then counted twice. Default false: such a merge is refused.
   */
  allowDuplicates?: boolean;
}

const FN = "NRCAccumulator";

/**
 * Lets the event loop run between layers: the kernels block the thread they are called on, so a
 * caller's reads of the next batch (I/O callbacks) could otherwise only progress between batches.
 * `setImmediate` where it exists (Node), else a resolved promise (no macrotask yield).
 */
const turnEventLoop: () => Promise<void> =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? () =>
        new Promise((resolve) =>
          (globalThis as unknown as { setImmediate(f: () => void): void }).setImmediate(resolve),
        )
    : () => Promise.resolve();

/**
 * A streaming NRC measurement. Create with {@link createNRCAccumulator}; feed with `add` /
 * `addAll`; combine with `merge`; persist with `toJSON` / {@link NRCAccumulator.fromJSON}; read
 * with `finalize`.
 */
export class NRCAccumulator {
  private readonly weights: (Mat | null)[] | null;
  private readonly names: string[] | null;
  private readonly backendOption: BackendOption | undefined;
  private ownsKernels = false;
  private kernels: CompleteKernels | null = null;
  private readonly opts: StateOptions;
  private stats: LayerStats[] | null = null;
  /** Debiased NRC2's running sums per layer (`debiased` only). */
  private hsic: HsicSums[] | null = null;
  private kinds: ("dense" | "conv")[] | null = null;
  private layerNames: string[] | null = null;
  private sampleCount = 0;
  /** This accumulator's random id, and the ids of the states whose samples it holds. */
  private stateId = newStateId();
  private sourceIds: string[] = [];
  /**
   * `rescan` mode: each layer's batches since the last settle, accumulating in the backend about
   * the state's mean (see MomentsAccumulation); folded into `stats` by {@link settle}.
   */
  private runs: (MomentsAccumulation | null)[] = [];
  private buf = new Float64Array(0);
  /**
   * Lends `buf` to backends that center by copying (allocated only if one asks; reused across
   * batches, as a fresh buffer per batch costs page faults).
   */
  private readonly scratch = (len: number) =>
    this.buf.length >= len ? this.buf : (this.buf = new Float64Array(len));

  /** @internal use {@link createNRCAccumulator}. */
  constructor(opts: AccumulatorOptions, weights: (Mat | null)[] | null) {
    this.opts = {
      t: opts.t ?? null,
      r: opts.r ?? null,
      preset: opts.preset ?? "paper",
      modelMSE: opts.modelMSE ?? null,
      collapseThreshold: opts.collapseThreshold ?? DEFAULT_COLLAPSE_THRESHOLD,
      nrc4: opts.nrc4 ?? "tsqr",
      ...(opts.debiased ? { debiased: true } : {}),
    };
    this.weights = weights;
    this.names = opts.names ? [...opts.names] : null;
    this.backendOption = opts.backend;
  }

  private async k(work = 0): Promise<CompleteKernels> {
    if (this.kernels) return this.kernels;
    if (this.backendOption !== undefined) {
      this.ownsKernels = true;
      this.kernels = await initBackend(this.backendOption);
    } else if (work >= AUTO_BACKEND_MIN_WORK / 10) {
      // Streaming big batches: worth starting the fastest backend once for all of them.
      this.ownsKernels = true;
      this.kernels = await initBackend(autoBackend());
    } else this.kernels = jsKernels;
    return this.kernels;
  }

  /** Samples seen so far (rows of targets). */
  get samples(): number {
    return this.sampleCount;
  }

  /** This state's random id (32 hex digits; kept by `toJSON`/`toSafetensors` and their loaders). */
  get id(): string {
    return this.stateId;
  }

  /**
   * The ids of the states whose samples this one holds: its own once it added a batch, and those
   * of every state merged into it. Two states sharing one are not merged (see `merge`).
   */
  get sources(): readonly string[] {
    return this.sourceIds;
  }

  /** Records that this state now holds samples of its own. */
  private holdsOwnSamples(): void {
    if (!this.sourceIds.includes(this.stateId))
      this.sourceIds = unionSources(this.sourceIds, [this.stateId]);
  }

  /**
   * Adds one batch: `features[l]` holds layer l's features for the batch's samples (N_b×d_l,
   * or a conv tensor), `targets` their N_b×q targets. Batch sizes may vary.
   * @throws NRCInputError on a layer-count, width or row mismatch with earlier batches or the weights.
   */
  async add(batch: AccumulatorBatch): Promise<void> {
    const fn = `${FN}.add`;
    if (batch === null || typeof batch !== "object" || !Array.isArray(batch.features))
      throw new NRCInputError(
        fn,
        "batch",
        "batch must be { features: [layer 0, layer 1, …], targets }",
      );
    if (rowCount(batch.targets) === 0) {
      // An empty batch (an empty shard or partition) adds nothing; its features must be empty too.
      batch.features.forEach((f, i) => {
        if (rowCount(f) !== 0)
          throw new NRCInputError(
            fn,
            `features[${i}]`,
            `features[${i}] must have 0 rows like the targets (an empty batch); got ${rowCount(f) ?? "not a matrix or tensor"}`,
          );
      });
      return;
    }
    const y = asMatrix(fn, "targets", batch.targets);
    const L = batch.features.length;
    const expectL = this.stats?.length ?? this.weights?.length ?? L;
    if (L === 0 || L !== expectL)
      throw new NRCInputError(
        fn,
        "features",
        `features must hold one entry per layer (${expectL}); got ${L}`,
      );
    if (this.stats && y.cols !== this.stats[0].q)
      throw new NRCInputError(
        fn,
        "targets",
        `targets must have ${this.stats[0].q} columns like earlier batches; got ${y.cols}`,
      );
    let work = 0;
    for (const f of batch.features) work += roughWork(f);
    const k = await this.k(work);
    // Float32 features stay float32 (no widened copy) where the kernels take them: the moments
    // run of `rescan` mode and its refinement passes; elsewhere they are widened on first use.
    const prepared: PreparedLayer[] = batch.features.map((f, i) =>
      prepareLayer(
        fn,
        `features[${i}]`,
        i,
        f,
        null,
        this.names?.[i],
        this.opts.preset,
        y.rows,
        false,
        true,
      ),
    );
    prepared.forEach((p, i) => {
      const w = this.weights?.[i];
      const cols = (p.h32 ?? p.h).cols; // p.h of float32 features would widen them
      if (w && w.cols !== cols)
        throw new NRCInputError(
          fn,
          `features[${i}]`,
          `features[${i}] must have ${w.cols} columns (weight ${i} is ${w.rows}×${w.cols}); got ${cols}`,
        );
      if (this.stats && this.stats[i].d !== cols)
        throw new NRCInputError(
          fn,
          `features[${i}]`,
          `features[${i}] must have ${this.stats[i].d} columns like earlier batches; got ${cols}`,
        );
    });
    if (this.opts.debiased) {
      const t = this.opts.t ?? y.cols;
      const part = prepared.map((p) => hsicBatch(p.h, Math.min(t, p.h.cols), y));
      this.hsic = this.hsic ? this.hsic.map((h, i) => hsicMerge(h, part[i])) : part;
    }
    const factor = this.opts.nrc4 !== "rescan";
    if (!factor && this.stats) {
      // Two-pass mode after the first batch: into each layer's running moments (no per-batch
      // d×d work in JS), restarted about the current mean when the batches' mean drifts.
      for (let i = 0; i < L; i++) {
        const p = prepared[i];
        const run = (this.runs[i] ??= new MomentsAccumulation(k, this.stats[i], this.scratch));
        await run.add(p.h32 ?? p.h, repeatRows(y, p.repeat));
        if (run.drifted()) this.settleLayer(i);
        await turnEventLoop();
      }
      this.sampleCount += y.rows;
      this.holdsOwnSamples();
      return;
    }
    const batchStatsList: LayerStats[] = [];
    for (const p of prepared) {
      batchStatsList.push(await batchStats(k, p.h, repeatRows(y, p.repeat), factor, this.scratch));
      await turnEventLoop();
    }
    this.sampleCount += y.rows;
    this.holdsOwnSamples();
    if (!this.stats) {
      this.stats = batchStatsList;
      this.kinds = prepared.map((p) => p.kind);
      this.layerNames = prepared.map((p) => p.name);
    } else {
      // In place: the accumulator owns its state's arrays (merge() and fromJSON copy).
      for (let i = 0; i < L; i++)
        this.stats[i] = await mergeStats(k, this.stats[i], batchStatsList[i], true);
    }
    this.stats.forEach(mirrorUpper);
  }

  /** Folds layer i's running moments into its statistics. */
  private settleLayer(i: number): void {
    const run = this.runs[i];
    if (!run) return;
    this.runs[i] = null;
    const s = run.settle();
    if (s) this.stats![i] = mirrorUpper(mergeMoments(this.stats![i], s, true));
  }

  /** Folds every running moments accumulation into the statistics (before reading them). */
  private settle(): void {
    for (let i = 0; i < this.runs.length; i++) this.settleLayer(i);
  }

  /** Adds every batch of an (async) iterable, in order. */
  async addAll(
    batches: AsyncIterable<AccumulatorBatch> | Iterable<AccumulatorBatch>,
  ): Promise<void> {
    for await (const b of batches) await this.add(b);
  }

  /**
   * Folds another accumulator's statistics into this one (associative and commutative up to
   * rounding; an accumulator without samples is the identity). The other accumulator is left
   * unchanged.
   * @param other - the accumulator to fold in.
   * @param options - `allowDuplicates`: merge even when both hold the samples of one state.
   * @returns this accumulator.
   * @throws NRCInputError when the two measured different layer shapes, options (as in effect:
   *   t after its default) or weights, or when both hold the samples of one state (see `sources`).
   */
  async merge(other: NRCAccumulator, options: MergeOptions = {}): Promise<this> {
    const fn = `${FN}.merge`;
    if (!(other instanceof NRCAccumulator))
      throw new NRCInputError(fn, "other", "other must be an NRCAccumulator");
    if (options === null || typeof options !== "object")
      throw new NRCInputError(fn, "options", "options must be { allowDuplicates? }");
    checkKeys(fn, "options", options, ["allowDuplicates"]);
    if (options.allowDuplicates !== undefined && typeof options.allowDuplicates !== "boolean")
      throw new NRCInputError(
        fn,
        "allowDuplicates",
        `allowDuplicates must be a boolean; got ${JSON.stringify(options.allowDuplicates)}`,
      );
    this.settle();
    other.settle();
    checkCompatible(
      fn,
      { options: this.opts, layers: this.stats, weights: this.weights, sources: this.sourceIds },
      {
        options: other.opts,
        layers: other.stats,
        weights: other.weights,
        sources: other.sourceIds,
      },
      { allowDuplicates: options.allowDuplicates },
    );
    // t as in effect: an explicit t of the other side holds for the merged state too.
    if (this.opts.t === null) this.opts.t = other.opts.t;
    if (!other.stats) return this;
    if (
      this.stats &&
      (other.stats.length !== this.stats.length ||
        other.stats.some((s, i) => s.d !== this.stats![i].d || s.q !== this.stats![i].q))
    )
      throw new NRCInputError(
        fn,
        "other",
        "other must have measured the same layers (same count and widths) and targets",
      );
    if (other.hsic)
      this.hsic = this.hsic ? this.hsic.map((h, i) => hsicMerge(h, other.hsic![i])) : other.hsic;
    this.sampleCount += other.sampleCount;
    this.sourceIds = unionSources(this.sourceIds, other.sourceIds);
    if (!this.stats) {
      this.stats = other.stats.map((s) => statsFromJSON(statsToJSON(s), !!s.r));
      this.kinds = other.kinds ? [...other.kinds] : null;
      this.layerNames = other.layerNames ? [...other.layerNames] : null;
      return this;
    }
    const k = await this.k();
    for (let i = 0; i < this.stats.length; i++)
      this.stats[i] = mirrorUpper(await mergeStats(k, this.stats[i], other.stats[i]));
    return this;
  }

  /** Everything the state holds (the saved forms are encodings of it, see `state/`). */
  private snapshot(): StateSnapshot {
    this.settle();
    return {
      options: { ...this.opts },
      samples: this.sampleCount,
      names: this.layerNames,
      kinds: this.kinds,
      layers: this.stats,
      weights: this.weights,
      hsic: this.hsic,
      id: this.stateId,
      sources: this.sourceIds,
    };
  }

  /** An accumulator holding a loaded state (checked), with the weights and backend given. */
  private static fromSnapshot(
    fn: string,
    s: StateSnapshot,
    extra: Pick<AccumulatorOptions, "weights" | "backend">,
  ): NRCAccumulator {
    const acc = buildAccumulator(fn, { ...extra, ...optionsOfState(s) });
    acc.stateId = s.id;
    acc.sourceIds = [...s.sources];
    acc.hsic = s.hsic ?? null;
    if (s.layers) {
      acc.stats = s.layers;
      acc.sampleCount = s.samples;
      acc.kinds = s.kinds ?? s.layers.map(() => "dense");
      acc.layerNames = s.names ?? s.layers.map((_, i) => `layer ${i}`);
    }
    return acc;
  }

  /**
   * The state as plain JSON, with its id, sources and checksum (weights are not included: pass
   * them again to `fromJSON`).
   */
  toJSON(): AccumulatorState {
    return stateToJSON(this.snapshot());
  }

  /**
   * Rebuilds an accumulator from `toJSON()` output, validating it: shapes, consistency of the
   * statistics, and the checksum (a state changed after it was written is refused).
   * @param state - the serialised state (an object or its JSON text).
   * @param extra - the weights (and backend) again; options come from the state.
   * @returns the accumulator.
   * @throws NRCInputError on a malformed, inconsistent or changed state.
   * @example
   * ```ts
   * const again = NRCAccumulator.fromJSON(JSON.stringify(acc), { weights });
   * ```
   */
  static fromJSON(
    state: AccumulatorState | string,
    extra: Pick<AccumulatorOptions, "weights" | "backend"> = {},
  ): NRCAccumulator {
    const fn = `${FN}.fromJSON`;
    if (extra === null || typeof extra !== "object")
      throw new NRCInputError(fn, "extra", "extra must be { weights?, backend? }");
    checkKeys(fn, "extra", extra, ["weights", "backend"]);
    const s = stateFromJSON(fn, state);
    const acc = NRCAccumulator.fromSnapshot(fn, s, extra);
    // The weights again, in the layers' order: each must read its layer's features.
    const ws = acc.weights;
    if (acc.stats && ws && ws.length !== acc.stats.length)
      throw new NRCInputError(
        fn,
        "weights",
        `weights must hold one entry per layer of the state (${acc.stats.length}, null where none); got ${ws.length}`,
      );
    ws?.forEach((w, i) => {
      const d = acc.stats?.[i].d;
      if (w && d !== undefined && w.cols !== d)
        throw new NRCInputError(
          fn,
          `weights[${i}]`,
          `weights[${i}] must be out×in with in = ${d} (layer ${i}'s features in the state); got ${w.rows}×${w.cols}${ws.some((o, j) => o && o.cols === d && j !== i) ? " (weights in another order?)" : ""}`,
        );
    });
    return acc;
  }

  /**
   * The state as the bytes of a binary state file (`.nrc.safetensors`): every statistic in
   * float64, bit-exact (the file read back gives the same state, bit for bit), with a JSON header
   * (format version, layer widths, t, r, preset, NRC4 mode, the state's id and sources), the
   * SHA-256 of every statistic and of the header, and the layers' weights with their SHA-256.
   * A 512-wide layer with a few targets takes ~2.1 MB (the symmetric M2_H and the triangular
   * TSQR factor are stored as triangles), against ~10 MB of JSON. Readable with numpy alone (see
   * the README, "State files"). Write it to disk with `writeStateFile` from `deep-nrc/node`.
   * @returns the file's bytes.
   * @example
   * ```ts
   * const bytes = acc.toSafetensors();
   * const again = await NRCAccumulator.fromSafetensors(bytes);
   * ```
   */
  toSafetensors(): Uint8Array {
    return encodeState(this.snapshot());
  }

  /**
   * Rebuilds an accumulator from {@link NRCAccumulator.toSafetensors} output, validating it:
   * the checksums of the header and of every statistic (a flipped bit is an error naming the
   * tensor), shapes, finite values, the statistics' consistency (as for JSON states: symmetry,
   * Cauchy–Schwarz, RᵀR against the moments), sample counts that agree across layers, and the
   * stored weights against their SHA-256.
   * @param bytes - the state file's contents.
   * @param extra - `weights`: checked against the state's (a state measured with other weights is
   *   refused, naming `weights[i]`; a layer the state holds no weight for takes the one given);
   *   by default the weights stored in the file are used.
   *   `backend`: as in {@link createNRCAccumulator}.
   * @returns the accumulator, ready to `add`, `merge` or `finalize`.
   * @throws NRCInputError naming the field at fault (e.g. `layers.1.m2_h`, `weights[0]`, `version`).
   * @example
   * ```ts
   * import { NRCAccumulator } from "deep-nrc";
   * const a = await NRCAccumulator.fromSafetensors(bytesA);
   * await a.merge(await NRCAccumulator.fromSafetensors(bytesB));
   * const report = await a.finalize();
   * ```
   */
  static async fromSafetensors(
    bytes: Uint8Array,
    extra: Pick<AccumulatorOptions, "weights" | "backend"> = {},
  ): Promise<NRCAccumulator> {
    const fn = `${FN}.fromSafetensors`;
    if (extra === null || typeof extra !== "object")
      throw new NRCInputError(fn, "extra", "extra must be an object { weights?, backend? }");
    const s = await decodeState(fn, bytes);
    const acc = NRCAccumulator.fromSnapshot(fn, s, {
      backend: extra.backend,
      weights: extra.weights ?? s.weights ?? undefined,
    });
    // Weights passed must be the state's where it recorded some; where it recorded none (the
    // shard had no weights) they are taken as given (they change no statistic, only NRC3).
    if (extra.weights !== undefined) {
      const L = Math.max(s.weights?.length ?? 0, acc.weights?.length ?? 0);
      const recorded = Array.from(
        { length: L },
        (_, i) => s.weights?.[i] ?? acc.weights?.[i] ?? null,
      );
      checkCompatible(
        fn,
        { options: acc.opts, layers: null, weights: recorded },
        { options: acc.opts, layers: null, weights: acc.weights },
        { what: "the weights passed" },
      );
    }
    return acc;
  }

  /**
   * The report, as `measureNRC` would give on all rows added so far.
   * @param options - `rescan` (required in `nrc4: "rescan"` mode): the same batches again.
   * @throws NRCInputError when nothing was added, t/r do not fit the layers, or (rescan mode)
   *   `rescan` is missing or yields other samples than were added.
   */
  async finalize(options: FinalizeOptions = {}): Promise<NRCReport> {
    const fn = `${FN}.finalize`;
    if (options === null || typeof options !== "object")
      throw new NRCInputError(fn, "options", "options must be { rescan? }");
    checkKeys(fn, "options", options, ["rescan"]);
    const rescanMode = this.opts.nrc4 === "rescan";
    if (rescanMode && typeof options?.rescan !== "function")
      throw new NRCInputError(
        fn,
        "rescan",
        `this accumulator keeps no TSQR factor (nrc4: "rescan"): pass finalize({ rescan: () => batches }) to read the same batches again; got ${options?.rescan === undefined ? "no rescan" : typeof options.rescan}`,
      );
    if (!this.stats)
      throw new NRCInputError(
        fn,
        "batches",
        "no batch was added; add at least one batch of ≥ 2 samples",
      );
    this.settle();
    const first = this.stats[0];
    if (this.sampleCount < 2)
      throw new NRCInputError(fn, "batches", `need at least 2 samples; got ${this.sampleCount}`);
    let yTrace = 0;
    for (let i = 0; i < first.q; i++) yTrace += first.m2Y[i * first.q + i];
    if (!(yTrace > 0))
      throw new NRCInputError(
        fn,
        "targets",
        "targets have zero variance; NRC2 and NRC4 are undefined",
      );
    const t = this.opts.t ?? first.q;
    const ctx: Ctx = {
      preset: this.opts.preset,
      t,
      r: this.opts.r,
      modelMSE: this.opts.modelMSE,
      threshold: this.opts.collapseThreshold,
      debiased: this.opts.debiased,
    };
    const k = await this.k();
    const extras: LayerExtras[] = rescanMode
      ? await this.rescanResiduals(k, ctx, options.rescan!)
      : this.stats.map(() => ({}));
    this.hsic?.forEach((h, i) => (extras[i].hsic = hsicDebiasedSums(h)));
    const layers = [];
    for (let i = 0; i < this.stats.length; i++) {
      const meta = {
        name: this.layerNames![i],
        kind: this.kinds![i],
        w: this.weights?.[i] ?? null,
      };
      layers.push(await finalizeLayer(k, i, meta, this.stats[i], ctx, extras[i]));
    }
    // Target statistics: a flattened conv layer repeats targets, which scales m2Y and count alike.
    return assembleReport(
      k,
      ctx,
      { samples: this.sampleCount, count: first.count, q: first.q, m2Y: first.m2Y },
      layers,
    );
  }

  /**
   * `rescan` mode: each layer's spectrum and NRC4 residual, from passes over the batches again —
   * refinement passes for every layer whose Gram proves it safe (all layers share each pass),
   * then one TSQR pass for any layer left.
   */
  private async rescanResiduals(
    k: CompleteKernels,
    ctx: Ctx,
    rescan: NonNullable<FinalizeOptions["rescan"]>,
  ): Promise<LayerExtras[]> {
    const fn = `${FN}.finalize`;
    const stats = this.stats!;
    const L = stats.length;
    const extras: LayerExtras[] = [];
    const refs: (Refinement | null)[] = [];
    const pending: boolean[] = [];
    for (const s of stats) {
      const spec: Spectrum | undefined =
        degenerateReason(s, null, ctx.t) === null
          ? await layerSpectrum(k, s, spectrumVectors(s.d, ctx.t, ctx.r))
          : undefined;
      extras.push({ spec });
      const live = spec !== undefined && degenerateReason(s, spec, ctx.t) === null;
      pending.push(live);
      let ref: Refinement | null = null;
      if (live) {
        let yy = 0;
        for (let i = 0; i < s.q; i++) yy += s.m2Y[i * s.q + i];
        ref = Refinement.create(
          await layerGramSolver(k, s, spec),
          s.count,
          s.q,
          nrc4Rtol(ctx.preset, s.count, s.d),
          yy,
        );
        ref?.begin(s.cross);
      }
      refs.push(ref);
    }
    /**
     * One pass over the rescanned batches, calling `each(layer, h, yRepeated)` per batch. The
     * first pass also checks the second read against the first (the statistics): per column,
     * the means, the sums of squares about the mean and the cross products with the targets'
     * row sums (O(N·(d + q)), against the pass's N·d·q), so other data of the same row count
     * throws instead of changing NRC4 silently.
     */
    let verified = false;
    const pass = async (each: (i: number, h: Mat | MatF32, y: Mat) => Promise<void>) => {
      const check = verified ? null : stats.map((s) => new RescanCheck(s));
      verified = true;
      let rows = 0;
      for await (const batch of rescan()) {
        if (batch === null || typeof batch !== "object" || !Array.isArray(batch.features))
          throw new NRCInputError(fn, "rescan", "rescan must yield { features, targets } batches");
        const y = asMatrix(fn, "rescan targets", batch.targets);
        if (batch.features.length !== L || y.cols !== stats[0].q)
          throw new NRCInputError(
            fn,
            "rescan",
            `rescan batches must have ${L} layers and ${stats[0].q} target columns like the added ones; got ${batch.features.length} and ${y.cols}`,
          );
        rows += y.rows;
        for (let i = 0; i < L; i++) {
          const p = prepareLayer(
            fn,
            `rescan features[${i}]`,
            i,
            batch.features[i],
            null,
            undefined,
            this.opts.preset,
            y.rows,
            false,
            true,
          );
          const h = p.h32 ?? p.h;
          if (h.cols !== stats[i].d)
            throw new NRCInputError(
              fn,
              "rescan",
              `rescan features[${i}] must have ${stats[i].d} columns; got ${h.cols}`,
            );
          const yr = repeatRows(y, p.repeat);
          check?.[i].add(h, yr);
          await each(i, h, yr);
        }
      }
      if (rows !== this.sampleCount)
        throw new NRCInputError(
          fn,
          "rescan",
          `rescan must yield the same ${this.sampleCount} samples as were added; got ${rows}`,
        );
      check?.forEach((c, i) => {
        const why = c.mismatch();
        if (why)
          throw new NRCInputError(
            fn,
            "rescan",
            `rescan must yield the same samples as were added: layer ${i}'s second read differs from the first (${why})`,
          );
      });
    };
    // Refinement passes, all layers together.
    for (;;) {
      const xs = refs.map((r) => (r ? r.next() : null));
      if (xs.every((x) => x === null)) break;
      const g = stats.map((s) => new Float64Array(s.d * s.q));
      const rss = stats.map((s) => new Float64Array(s.q));
      await pass(async (i, h, y) => {
        const x = xs[i];
        if (!x) return;
        const st = await k.normalStep(h, centerWith(y, stats[i].meanY), x);
        for (let j = 0; j < st.g.data.length; j++) g[i][j] += st.g.data[j];
        for (let j = 0; j < st.rss.length; j++) rss[i][j] += st.rss[j];
        await turnEventLoop();
      });
      xs.forEach((x, i) => x && refs[i]!.update(g[i], rss[i]));
    }
    refs.forEach((r, i) => {
      if (r && r.result !== null) {
        extras[i].residual = r.result;
        pending[i] = false;
      }
    });
    // Whatever the refinement could not settle: one TSQR pass.
    if (pending.some(Boolean)) {
      const factors: (Mat | null)[] = stats.map(() => null);
      await pass(async (i, h, y) => {
        if (!pending[i]) return;
        const f = (await k.qr(augmented(widenMat(h), y))).R;
        const prev = factors[i];
        factors[i] = prev ? (await k.qr(stackRows(prev, f))).R : f;
      });
      for (let i = 0; i < L; i++)
        if (pending[i])
          extras[i].residual = await nrc4Residual(
            k,
            { ...stats[i], r: factors[i]! },
            nrc4Rtol(ctx.preset, stats[i].count, stats[i].d),
          );
    }
    return extras;
  }

  /** Releases the backend this accumulator started (workers, GPU memory). */
  async dispose(): Promise<void> {
    // The running moments are folded in first: the state stays whole (toJSON still works).
    if (this.kernels) this.settle();
    if (this.kernels && this.ownsKernels) await this.kernels.dispose?.();
    this.kernels = null;
  }
}

/**
 * The cheap second-read check of `finalize({ rescan })`: per feature column the sum, the sum of
 * squares about the first read's mean and the cross products with the centered targets' row
 * sums, and the targets' column sums and squares, compared with the statistics.
 */
class RescanCheck {
  private readonly sumH: Float64Array;
  private readonly sqH: Float64Array;
  private readonly crossOnes: Float64Array;
  private readonly sumY: Float64Array;
  private readonly sqY: Float64Array;
  private n = 0;
  constructor(private readonly s: LayerStats) {
    this.sumH = new Float64Array(s.d);
    this.sqH = new Float64Array(s.d);
    this.crossOnes = new Float64Array(s.d);
    this.sumY = new Float64Array(s.q);
    this.sqY = new Float64Array(s.q);
  }

  add(h: Mat | MatF32, y: Mat): void {
    const { d, q, meanY } = this.s;
    const m = h.rows;
    const ys = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let t = 0;
      for (let c = 0; c < q; c++) {
        const v = y.data[i * q + c] - meanY[c];
        this.sumY[c] += v;
        this.sqY[c] += v * v;
        t += v;
      }
      ys[i] = t;
    }
    this.addRows(h.data, d, m, ys);
    this.n += m;
  }

  /**
   * The feature sums over rows, four at a time (each column's three running sums are loaded and
   * stored once per four rows instead of once per row).
   */
  private addRows(data: Float64Array | Float32Array, d: number, m: number, ys: Float64Array) {
    const { meanH } = this.s;
    const { sumH, sqH, crossOnes } = this;
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const o = i * d;
      const y0 = ys[i],
        y1 = ys[i + 1],
        y2 = ys[i + 2],
        y3 = ys[i + 3];
      for (let j = 0; j < d; j++) {
        const mu = meanH[j];
        const v0 = data[o + j] - mu;
        const v1 = data[o + d + j] - mu;
        const v2 = data[o + 2 * d + j] - mu;
        const v3 = data[o + 3 * d + j] - mu;
        sumH[j] += v0 + v1 + (v2 + v3);
        sqH[j] += v0 * v0 + v1 * v1 + (v2 * v2 + v3 * v3);
        crossOnes[j] += v0 * y0 + v1 * y1 + (v2 * y2 + v3 * y3);
      }
    }
    for (; i < m; i++) {
      const o = i * d;
      const yi = ys[i];
      for (let j = 0; j < d; j++) {
        const v = data[o + j] - meanH[j];
        sumH[j] += v;
        sqH[j] += v * v;
        crossOnes[j] += v * yi;
      }
    }
  }

  /** What differs beyond rounding, or null. */
  mismatch(): string | null {
    const { d, q, count, m2H, m2Y, cross, meanH, meanY } = this.s;
    if (this.n !== count) return `${this.n} rows against ${count}`;
    // Relative to each sum's scale, plus what subtracting a mean of size |μ| rounds per row
    // (ε·|μ|, so data with a mean 10¹⁰ times its spread still passes).
    const tol = 1e-10;
    const eps = 4 * Number.EPSILON;
    const sums = (sum: number, sq: number, sd2: number, mu: number, what: string) => {
      const roundMean = count * eps * Math.abs(mu);
      // Σ(x − μ) = n·Δμ: within tol·√(n·m2) (the mean to tol of a standard deviation).
      if (Math.abs(sum) > tol * Math.sqrt(count * sd2) + roundMean + 1e-300)
        return `${what}'s mean differs by ${sum / count}`;
      if (Math.abs(sq - sd2) > tol * sd2 + 2 * roundMean * Math.sqrt(sd2 / count) + 1e-300)
        return `${what}'s sum of squares is ${sq}, not ${sd2}`;
      return null;
    };
    let yy = 0;
    for (let c = 0; c < q; c++) {
      const sd2 = m2Y[c * q + c];
      yy += sd2;
      const why = sums(this.sumY[c], this.sqY[c], sd2, meanY[c], `target column ${c}`);
      if (why) return why;
    }
    let ones = 0;
    for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) ones += m2Y[a * q + b];
    for (let j = 0; j < d; j++) {
      const sd2 = m2H[j * d + j];
      const why = sums(this.sumH[j], this.sqH[j], sd2, meanH[j], `feature column ${j}`);
      if (why) return why;
      let want = 0;
      for (let c = 0; c < q; c++) want += cross[j * q + c];
      const lim =
        tol * Math.sqrt(sd2 * Math.max(ones, 0)) +
        tol * Math.sqrt(sd2 * yy) +
        count * eps * Math.abs(meanH[j]) * Math.sqrt(yy * q) +
        1e-300;
      if (Math.abs(this.crossOnes[j] - want) > lim)
        return `feature column ${j}'s cross products with the targets differ (${this.crossOnes[j]} vs ${want})`;
    }
    return null;
  }
}

/**
 * Creates a streaming NRC accumulator.
 * @param options - `weights` (one per layer, or null), `names`, `t`, `r`, `preset`, `modelMSE`,
 *   `collapseThreshold`, `backend`.
 * @returns an {@link NRCAccumulator}.
 * @throws NRCInputError on malformed weights or options.
 * @example
 * ```ts
 * import { createNRCAccumulator } from "deep-nrc";
 * const acc = createNRCAccumulator({ weights: [W1, W2] });
 * for await (const batch of loader) await acc.add({ features: [batch.h1, batch.h2], targets: batch.y });
 * const report = await acc.finalize();
 * ```
 */
export function createNRCAccumulator(options: AccumulatorOptions = {}): NRCAccumulator {
  const fn = "createNRCAccumulator";
  if (options === null || typeof options !== "object")
    throw new NRCInputError(fn, "options", "options must be an object");
  checkKeys(fn, "options", options, ACCUMULATOR_KEYS);
  return buildAccumulator(fn, options);
}

/** The keys {@link createNRCAccumulator} reads. */
const ACCUMULATOR_KEYS = [
  "weights",
  "names",
  "t",
  "r",
  "preset",
  "modelMSE",
  "collapseThreshold",
  "backend",
  "nrc4",
  "debiased",
];

/** The accumulator options a saved state (JSON or binary) records. */
function optionsOfState(s: { options: StateOptions; names?: string[] | null }): AccumulatorOptions {
  const o = s.options;
  return {
    t: o.t ?? undefined,
    r: o.r ?? undefined,
    preset: o.preset,
    modelMSE: o.modelMSE ?? undefined,
    collapseThreshold: o.collapseThreshold,
    names: s.names ?? undefined,
    nrc4: o.nrc4 ?? "tsqr",
    debiased: o.debiased,
  };
}

/** {@link createNRCAccumulator}'s checks and construction, errors naming `fn`. */
function buildAccumulator(fn: string, options: AccumulatorOptions): NRCAccumulator {
  if (options.t !== undefined) checkDim(fn, "t", options.t, Number.MAX_SAFE_INTEGER, LAYER_BOUND);
  if (options.r !== undefined) checkDim(fn, "r", options.r, Number.MAX_SAFE_INTEGER, LAYER_BOUND);
  checkPreset(fn, options.preset);
  if (options.names !== undefined && options.names !== null) {
    if (!Array.isArray(options.names))
      throw new NRCInputError(fn, "names", "names must be an array of strings (one per layer)");
    options.names.forEach((v, i) => {
      if (typeof v !== "string")
        throw new NRCInputError(fn, `names[${i}]`, `names[${i}] must be a string; got ${typeof v}`);
    });
  }
  const th = options.collapseThreshold;
  if (th !== undefined && (typeof th !== "number" || !Number.isFinite(th) || th < 0))
    throw new NRCInputError(
      fn,
      "collapseThreshold",
      `collapseThreshold must be a finite number ≥ 0; got ${String(th)}`,
    );
  if (options.nrc4 !== undefined && options.nrc4 !== "tsqr" && options.nrc4 !== "rescan")
    throw new NRCInputError(
      fn,
      "nrc4",
      `nrc4 must be "tsqr" or "rescan"; got ${JSON.stringify(options.nrc4)}`,
    );
  if (options.debiased !== undefined && typeof options.debiased !== "boolean")
    throw new NRCInputError(
      fn,
      "debiased",
      `debiased must be a boolean; got ${JSON.stringify(options.debiased)}`,
    );
  if (options.debiased && (options.preset ?? "paper") !== "reference-code")
    throw new NRCInputError(
      fn,
      "debiased",
      `debiased NRC2 streams only with preset "reference-code" (CKA of H[:, :t] and Y); the paper's NRC2 projects onto the top-t eigenvectors, known only at the end, and its unbiased estimator needs fourth moments along them: use measureNRC({ debiased: true }) on the samples; got preset ${JSON.stringify(options.preset ?? "paper")}`,
    );
  const mse = options.modelMSE;
  if (mse !== undefined && (typeof mse !== "number" || !Number.isFinite(mse) || mse <= 0))
    throw new NRCInputError(
      fn,
      "modelMSE",
      `modelMSE must be a finite number > 0; got ${String(mse)}`,
    );
  let weights: (Mat | null)[] | null = null;
  if (options.weights !== undefined) {
    if (!Array.isArray(options.weights))
      throw new NRCInputError(
        fn,
        "weights",
        "weights must be an array (one per layer, null where absent)",
      );
    weights = options.weights.map((w, i) => {
      if (w == null) return null;
      return weightMatrix(fn, `weights[${i}]`, w);
    });
  }
  return new NRCAccumulator(options, weights);
}

/** Rows of a matrix or tensor input (undefined when it is neither). */
function rowCount(x: unknown): number | undefined {
  if (Array.isArray(x)) return x.length;
  if (x === null || typeof x !== "object") return undefined;
  const o = x as { shape?: unknown; rows?: unknown };
  if (Array.isArray(o.shape)) return typeof o.shape[0] === "number" ? o.shape[0] : undefined;
  return typeof o.rows === "number" ? o.rows : undefined;
}

/**
 * Makes M2_H exactly symmetric (its lower triangle a copy of the upper): the merges round the two
 * triangles differently (by an ulp or so), and a symmetric state is stored as one triangle,
 * bit-exactly. Returns its argument.
 */
function mirrorUpper(s: LayerStats): LayerStats {
  const { d, m2H } = s;
  for (let i = 1; i < d; i++) for (let j = 0; j < i; j++) m2H[i * d + j] = m2H[j * d + i];
  return s;
}
