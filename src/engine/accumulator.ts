/**
 * Streaming, mergeable measurement: {@link createNRCAccumulator} keeps only per-layer sufficient
 * statistics (see `stats/moments.ts`), so activations far larger than memory can be measured batch by
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
import type { CompleteKernels, Mat } from "../backends/types.js";
import type { BackendOption } from "../backends/choose.js";
import { STREAM_WORK_FACTOR, acquireKernels, type HeldKernels } from "../backends/shared.js";
import { NRCInputError, checkKeys } from "../errors.js";
import type { NRCReport } from "./report.js";
import { DEFAULT_COLLAPSE_THRESHOLD, type Ctx } from "./options.js";
import { assembleReport } from "./report.js";
import { finalizeLayer, repeatRows, roughWork, type LayerExtras } from "./layer.js";
import {
  batchStats,
  mirrorUpper,
  MomentsAccumulation,
  mergeMoments,
  mergeStats,
  statsFromJSON,
  statsToJSON,
  type LayerStats,
} from "../stats/moments.js";
import { decodeState, encodeState } from "../state/binary.js";
import { stateFromJSON, stateToJSON, type AccumulatorState } from "../state/json.js";
import { checkCompatible, checkMergeOptions, type MergeOptions } from "../state/merge-compat.js";
import { checkWeightsFitLayers, checkWeightsMatchState } from "../state/load-weights.js";
import {
  newStateId,
  unionSources,
  type StateOptions,
  type StateSnapshot,
} from "../state/snapshot.js";
import { hsicBatch, hsicDebiasedSums, hsicMerge, type HsicSums } from "../stats/hsic.js";
import { turnEventLoop } from "./event-loop.js";
import { rescanResiduals } from "./nrc4-rescan.js";
import { checkBatch } from "./accumulator-batch.js";
import {
  ACCUMULATOR_KEYS,
  checkAccumulatorOptions,
  optionsOfState,
  type AccumulatorBatch,
  type AccumulatorOptions,
  type FinalizeOptions,
} from "./accumulator-options.js";

export type {
  AccumulatorBatch,
  AccumulatorOptions,
  FinalizeOptions,
} from "./accumulator-options.js";
export type { AccumulatorState } from "../state/json.js";
export type { MergeOptions } from "../state/merge-compat.js";

const FN = "NRCAccumulator";

/**
 * A streaming NRC measurement. Create with {@link createNRCAccumulator}; feed with `add` /
 * `addAll`; combine with `merge`; persist with `toJSON` / {@link NRCAccumulator.fromJSON}; read
 * with `finalize`.
 */
export class NRCAccumulator {
  private readonly weights: (Mat | null)[] | null;
  private readonly names: string[] | null;
  private readonly backendOption: BackendOption | undefined;
  private held: HeldKernels | null = null;
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

  /**
   * The kernels, acquired on first use under the one default-backend policy
   * (`backends/shared.ts`): the `backend` option, else by the first batch's work as a stream's
   * ({@link STREAM_WORK_FACTOR} batches assumed). Held until {@link dispose}.
   */
  private async k(work = 0): Promise<CompleteKernels> {
    if (this.kernels) return this.kernels;
    this.held = await acquireKernels(FN, this.backendOption, work * STREAM_WORK_FACTOR);
    this.kernels = this.held.kernels;
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
    const checked = checkBatch(fn, batch, {
      stats: this.stats,
      weights: this.weights,
      names: this.names,
      preset: this.opts.preset,
    });
    if (!checked) return; // an empty batch adds nothing
    const { y, prepared } = checked;
    const L = prepared.length;
    let work = 0;
    for (const f of batch.features) work += roughWork(f);
    const k = await this.k(work);
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
    checkMergeOptions(fn, options);
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
    checkWeightsFitLayers(fn, acc.weights, acc.stats);
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
    if (extra.weights !== undefined) checkWeightsMatchState(fn, acc.opts, s.weights, acc.weights);
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
      ? await rescanResiduals(k, ctx, this.stats, this.sampleCount, options.rescan!)
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

  /** Releases the backend this accumulator started (workers, GPU memory). */
  async dispose(): Promise<void> {
    // The running moments are folded in first: the state stays whole (toJSON still works).
    if (this.kernels) this.settle();
    const held = this.held;
    this.held = null;
    this.kernels = null;
    await held?.release();
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

/** {@link createNRCAccumulator}'s checks and construction, errors naming `fn`. */
function buildAccumulator(fn: string, options: AccumulatorOptions): NRCAccumulator {
  return new NRCAccumulator(options, checkAccumulatorOptions(fn, options));
}
