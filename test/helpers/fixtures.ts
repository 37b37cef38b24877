/**
 * Loader for the golden fixtures in `test/fixtures/*.json`, written by `scripts/make_fixtures.py`
 * (an independent numpy/scipy float64 reference; see `test/fixtures.README.md`).
 *
 * Encoded matrices are `{ rows, cols, f64, sum, sumAbs }` and 4-D tensors `{ shape, f64, sum,
 * sumAbs }`, where `f64` is the base64 of little-endian float64 values in row-major (C) order.
 * {@link loadFixture} parses a file and replaces every such object by a decoded
 * {@link FixtureMatrix} / {@link FixtureTensor}; everything else is returned as parsed.
 * @module
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A decoded matrix: element (i, j) is `data[i * cols + j]`. */
export interface FixtureMatrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** A decoded tensor in C order (last index fastest). */
export interface FixtureTensor {
  shape: number[];
  data: Float64Array;
}

/** A matrix as stored in the JSON. */
export interface EncodedMatrix {
  rows: number;
  cols: number;
  f64: string;
  /** math.fsum of the values (Python), to check the decoding. */
  sum: number;
  /** math.fsum of the absolute values. */
  sumAbs: number;
}

/** A tensor as stored in the JSON. */
export interface EncodedTensor {
  shape: number[];
  f64: string;
  sum: number;
  sumAbs: number;
}

/** The fixture files. */
export type FixtureName =
  "metrics" | "angles" | "cka" | "pinv" | "conv" | "trained" | "certified" | "deflated";

/** Folder holding the fixture JSON files. */
export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures");

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Decodes base64 little-endian float64 bytes into a fresh (aligned) Float64Array. */
export function decodeF64(b64: string): Float64Array {
  const bytes = Buffer.from(b64, "base64");
  if (bytes.length % 8 !== 0) {
    throw new Error(`decodeF64: byte length ${bytes.length} is not a multiple of 8`);
  }
  const out = new Float64Array(bytes.length / 8);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true);
  }
  return out;
}

/** Decodes an encoded matrix, checking that the value count matches rows × cols. */
export function decodeMatrix(enc: EncodedMatrix): FixtureMatrix {
  const data = decodeF64(enc.f64);
  if (data.length !== enc.rows * enc.cols) {
    throw new Error(`decodeMatrix: ${data.length} values for a ${enc.rows}×${enc.cols} matrix`);
  }
  return { rows: enc.rows, cols: enc.cols, data };
}

/** Decodes an encoded tensor, checking that the value count matches the shape. */
export function decodeTensor(enc: EncodedTensor): FixtureTensor {
  const data = decodeF64(enc.f64);
  const n = enc.shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) {
    throw new Error(`decodeTensor: ${data.length} values for shape [${enc.shape.join(", ")}]`);
  }
  return { shape: [...enc.shape], data };
}

/** Whether a parsed JSON value is an encoded matrix. */
export function isEncodedMatrix(v: unknown): v is EncodedMatrix {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as EncodedMatrix).f64 === "string" &&
    typeof (v as EncodedMatrix).rows === "number" &&
    typeof (v as EncodedMatrix).cols === "number"
  );
}

/** Whether a parsed JSON value is an encoded tensor. */
export function isEncodedTensor(v: unknown): v is EncodedTensor {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as EncodedTensor).f64 === "string" &&
    Array.isArray((v as EncodedTensor).shape)
  );
}

/** Replaces every encoded matrix/tensor inside a parsed JSON value by its decoded form. */
export function decodeAll(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeAll);
  if (isEncodedMatrix(v)) return decodeMatrix(v);
  if (isEncodedTensor(v)) return decodeTensor(v);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = decodeAll(x);
    return out;
  }
  return v;
}

/** Parses a fixture file without decoding (matrices stay base64). */
export function loadRawFixture(name: FixtureName): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, `${name}.json`), "utf8")) as Record<
    string,
    unknown
  >;
}

/** Converts a decoded matrix to nested arrays (row-major). */
export function toArray2D(m: FixtureMatrix): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < m.rows; i++)
    out.push(Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
  return out;
}

// ---------------------------------------------------------------------------------------------
// typed views of the decoded files (field names as written by scripts/make_fixtures.py)

/** Proposition 1 quantities. */
export interface Prop1Expected {
  lhs: number;
  bound: number;
  eps1: number;
  eps2: number;
}

/** Expected metrics of one layer record (metrics.json cases, conv.json network layers). */
export interface LayerExpected {
  eigenvalues: number[];
  nrc1: number;
  nrc2: number;
  nrc3?: number;
  nrc3Angles?: number[];
  nrc4: number;
  nrc4Rtol: number;
  nrc4Rank: number;
  stableRankFeatures: number;
  stableRankWeight?: number;
  nrc1_r?: number;
  nrc3_r?: number;
  bottomAlignment?: number;
  prop1: Prop1Expected;
}

/** metrics.json case expected values (adds the target's stable rank). */
export interface MetricsExpected extends LayerExpected {
  targetStableRank: number;
}

/** Conditioning information stored beside the expected values. */
export interface Conditioning {
  eigGapRel_t: number;
  eigGapRel_r?: number;
  weightGapRel_t?: number;
  weightGapRel_r?: number;
  nrc4SigmaKeptMinRel: number | null;
  nrc4SigmaDroppedMaxRel: number | null;
  nrc4RouteSpread: number;
}

export type Preset = "paper" | "reference-code";

export interface MetricsCase {
  name: string;
  preset: Preset;
  t: number;
  r?: number;
  H: FixtureMatrix;
  Y: FixtureMatrix;
  W?: FixtureMatrix;
  expected: MetricsExpected;
  conditioning: Conditioning;
  tolerance_note?: string;
  float32Exact?: string[];
  constructionAngles?: number[];
  unguardedNrc2?: number;
  specValues?: Record<string, unknown>;
}

export interface MetricsFixture {
  generator: string;
  numpy: string;
  scipy: string;
  conventions: Record<string, string>;
  nrc4CenteringCheck: Record<string, unknown>;
  cases: MetricsCase[];
}

export interface AnglesCase {
  name: string;
  A: FixtureMatrix;
  B: FixtureMatrix;
  angles: number[];
  rankA: number;
  rankB: number;
  referenceDeviation: number;
  tolerance_note?: string;
}

export interface AnglesFixture {
  generator: string;
  conventions: Record<string, string>;
  cases: AnglesCase[];
}

export interface CkaCase {
  name: string;
  X: FixtureMatrix;
  Y: FixtureMatrix;
  expected: number;
  expectedGuarded: number;
  tolerance_note?: string;
}

export interface CkaFixture {
  generator: string;
  conventions: Record<string, string>;
  cases: CkaCase[];
}

export interface PinvCase {
  name: string;
  H: FixtureMatrix;
  Y: FixtureMatrix;
  rtol: number;
  rtolIsDefault: boolean;
  centerY: boolean;
  expected: number;
  rank: number;
  sigmaKeptMinRel: number | null;
  sigmaDroppedMaxRel: number | null;
  tolerance_note?: string;
}

export interface PinvFixture {
  generator: string;
  conventions: Record<string, string>;
  cases: PinvCase[];
}

export interface ConvLayerExpected extends LayerExpected {
  name: string;
  kind: "dense" | "conv";
  samples: number;
  features: number;
  conditioning: Conditioning;
}

export interface ConvFixture {
  generator: string;
  conventions: Record<string, string>;
  tensors: {
    name: string;
    nchw: FixtureTensor;
    nhwc: FixtureTensor;
    flatten: FixtureMatrix;
    gap: FixtureMatrix;
  }[];
  filters: { name: string; weight: FixtureTensor; matrix: FixtureMatrix }[];
  network: {
    name: string;
    t: number;
    r: number;
    targets: FixtureMatrix;
    layers: {
      name: string;
      features: FixtureTensor | FixtureMatrix;
      weight: FixtureTensor | FixtureMatrix;
    }[];
    expected: Record<Preset, { targetStableRank: number; layers: ConvLayerExpected[] }>;
  };
}

interface FixtureMap {
  metrics: MetricsFixture;
  angles: AnglesFixture;
  cka: CkaFixture;
  pinv: PinvFixture;
  conv: ConvFixture;
  /** test/fixtures/trained.json (scripts/make_trained_fixtures.py); typed by its test. */
  trained: Record<string, unknown>;
  /** test/fixtures/certified.json (scripts/make_certified_fixtures.py); typed by its test. */
  certified: Record<string, unknown>;
  /** test/fixtures/deflated.json (scripts/make_deflated_fixtures.py); typed by its test. */
  deflated: Record<string, unknown>;
}

const cache = new Map<FixtureName, unknown>();

/**
 * Loads a fixture file with every matrix/tensor decoded. Results are cached per file; treat them
 * as read-only (copy before handing data to code that might mutate it).
 */
export function loadFixture<K extends FixtureName>(name: K): FixtureMap[K] {
  let v = cache.get(name);
  if (v === undefined) {
    v = decodeAll(loadRawFixture(name));
    cache.set(name, v);
  }
  return v as FixtureMap[K];
}
