/**
 * deep-nrc in a web page: builds the bundled synthetic network's features in the page, measures
 * them with every backend that starts here (JS float64 always; WASM SIMD, multi-threaded when the
 * page is cross-origin isolated; WebGPU when `navigator.gpu` gives an adapter), and shows the
 * per-layer table, the agreement between backends and the report's figures.
 *
 * Bundled by `examples/browser/build.ts` into `dist/demo.js`; served by `serve.ts`. The results
 * are also published on `window.__deepNRC` for the end-to-end test.
 */
import {
  jsBackend,
  makeSyntheticNetwork,
  measureNRC,
  pinvPredictMSE,
  type Backend,
  type Kernels,
  type NRCReport,
} from "../../src/index.js";
import { wasmBackend } from "../../src/backends/wasm/index.js";
import { webgpuBackend } from "../../src/backends/webgpu/index.js";
import { renderReportSVGs } from "../../src/viz/index.js";
import { escapeHTML as esc, fmtNumber } from "../../src/viz/numbers.js";
import { networkFromQuery } from "./config.js";

/** One backend's outcome. */
export interface BackendResult {
  backend: string;
  ok: boolean;
  /** Why it did not run (when `ok` is false). */
  error?: string;
  /** Details: threads, adapter. */
  info?: string;
  /** Wall time of `measureNRC` in ms. */
  ms?: number;
  report?: NRCReport;
}

/** What the page publishes on `window.__deepNRC`. */
export interface DemoState {
  status: "running" | "done" | "failed";
  error?: string;
  network: ReturnType<typeof networkFromQuery>;
  modelMSE?: number;
  crossOriginIsolated: boolean;
  hasWebGPU: boolean;
  /** `navigator.hardwareConcurrency`. */
  cores: number;
  results: BackendResult[];
  /** The backend whose numbers the table and figures show. */
  shown?: string;
  /** Milliseconds to render the figures in the page. */
  figuresMs?: number;
}

const METRICS = [
  ["nrc1", "NRC1"],
  ["nrc2", "NRC2"],
  ["nrc3", "NRC3"],
  ["nrc4", "NRC4"],
  ["stableRankFeatures", "stable rank H"],
  ["stableRankWeight", "stable rank W"],
] as const;

declare global {
  interface Window {
    __deepNRC?: DemoState;
  }
}

function $(id: string): HTMLElement {
  return document.getElementById(id)!;
}

function maxRelDiff(a: NRCReport, b: NRCReport): number {
  let m = 0;
  a.layers.forEach((la, i) => {
    for (const [k] of METRICS) {
      const x = la[k];
      const y = b.layers[i][k];
      if (x === null || y === null) continue;
      // relative, with an absolute floor for metrics near 0 (NRC1 of collapsed layers)
      m = Math.max(m, Math.abs(x - y) / Math.max(Math.abs(y), 1e-6));
    }
  });
  return m;
}

function layerTable(report: NRCReport): string {
  const head = `<tr><th>#</th><th class="l">layer</th>${METRICS.map(([, t]) => `<th>${t}</th>`).join("")}<th class="l">collapsed</th></tr>`;
  const rows = report.layers.map((l, i) => {
    const cells = METRICS.map(([k]) => {
      const v = l[k];
      return `<td data-layer="${i}" data-metric="${k}" data-value="${v === null ? "null" : String(v)}">${esc(fmtNumber(v))}</td>`;
    }).join("");
    return `<tr${l.collapsed ? ' class="collapsed"' : ""}><td>${i}</td><td class="l">${esc(l.name)}</td>${cells}<td class="l">${l.collapsed ? "yes" : "no"}</td></tr>`;
  });
  return `<table id="layer-table"><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>`;
}

function backendTable(results: BackendResult[], ref: NRCReport | undefined): string {
  const rows = results.map((r) => {
    const diff = r.report && ref && r.backend !== "js" ? maxRelDiff(r.report, ref) : null;
    return (
      `<tr data-backend="${esc(r.backend)}" data-ok="${r.ok}"><td class="l">${esc(r.backend)}</td>` +
      `<td class="l">${r.ok ? "ran" : "unavailable"}</td><td class="l">${esc(r.ok ? (r.info ?? "") : (r.error ?? ""))}</td>` +
      `<td>${r.ms === undefined ? "—" : r.ms.toFixed(1)}</td>` +
      `<td>${diff === null ? "—" : diff.toExponential(2)}</td></tr>`
    );
  });
  return (
    `<table id="backend-table"><thead><tr><th class="l">backend</th><th class="l">status</th><th class="l">details</th>` +
    `<th>measureNRC ms</th><th>max rel. diff vs js</th></tr></thead><tbody>${rows.join("")}</tbody></table>` +
    `<p class="note">Differences are relative, over NRC1–4 and both stable ranks, with values below 1e-6 ` +
    `compared in absolute terms. WebGPU forms the Gram matrices exactly from integer slices (the ` +
    `float64 eigen, SVD and QR kernels run in WASM), so all three agree to float64 accuracy, ` +
    `collapsed layers included. The table below shows WebGPU's numbers where an adapter exists.</p>`
  );
}

async function run(name: string, backend: Backend, net: Parameters<typeof measureNRC>[0]) {
  const result: BackendResult = { backend: name, ok: false };
  let kernels: Kernels;
  try {
    kernels = await backend.init();
  } catch (e) {
    result.error = (e as Error).message;
    return result;
  }
  try {
    const k = kernels as Kernels & { threads?: number; singleThreadReason?: string; fma?: boolean };
    if (name === "wasm") {
      const n = k.threads ?? 1;
      result.info =
        `${n} thread${n === 1 ? "" : "s"}` +
        (k.fma ? ", FMA" : "") +
        (k.singleThreadReason ? ` (${k.singleThreadReason})` : "");
    } else if (name === "webgpu") {
      const g = k as Kernels & { adapterInfo?: string };
      result.info = `exact integer-slice products on ${g.adapterInfo ?? "a WebGPU adapter"}`;
    } else {
      result.info = "float64";
    }
    const t0 = performance.now();
    result.report = await measureNRC({ ...net, backend: kernels });
    result.ms = performance.now() - t0;
    result.ok = true;
  } catch (e) {
    result.error = (e as Error).message;
  } finally {
    await kernels.dispose?.();
  }
  return result;
}

async function main(): Promise<void> {
  const network = networkFromQuery(location.search);
  const state: DemoState = {
    status: "running",
    network,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    hasWebGPU: "gpu" in navigator,
    cores: navigator.hardwareConcurrency,
    results: [],
  };
  window.__deepNRC = state;
  $("network").textContent =
    `${network.layers} layers × ${network.samples} samples × width ${network.width}, ` +
    `${network.targets} targets, seed ${network.seed}`;
  $("status").textContent = "building the network…";
  const net = makeSyntheticNetwork(network);
  // The "model": a least-squares linear read-out of the last layer (what a trained head reaches).
  const modelMSE = await pinvPredictMSE(net.layers[net.layers.length - 1].features, net.targets);
  state.modelMSE = modelMSE;
  const input = { ...net, modelMSE };

  const candidates: [string, Backend][] = [
    ["js", jsBackend],
    ["wasm", wasmBackend()],
  ];
  candidates.push(["webgpu", webgpuBackend()]);
  for (const [name, backend] of candidates) {
    $("status").textContent = `measuring with ${name}…`;
    state.results.push(await run(name, backend, input));
  }
  const js = state.results.find((r) => r.backend === "js")?.report;
  // WebGPU where an adapter exists (exact, like the float64 backends), else WASM, else JS.
  const shownResult =
    state.results.find((r) => r.backend === "webgpu" && r.ok) ??
    state.results.find((r) => r.backend === "wasm" && r.ok) ??
    state.results.find((r) => r.backend === "js" && r.ok);
  $("backends").innerHTML = backendTable(state.results, js);
  if (!shownResult?.report) throw new Error("no backend could measure the network");
  state.shown = shownResult.backend;
  $("shown").textContent = shownResult.backend;
  $("layers").innerHTML = layerTable(shownResult.report);
  $("status").textContent = "rendering the figures…";
  const t0 = performance.now();
  const svgs = await renderReportSVGs({ label: shownResult.backend, report: shownResult.report });
  state.figuresMs = performance.now() - t0;
  $("figures").innerHTML = Object.entries(svgs)
    .map(([name, svg]) => `<figure data-figure="${esc(name)}">${svg}</figure>`)
    .join("");
  $("status").textContent = `done: ${state.results.filter((r) => r.ok).length} backend(s) ran`;
  state.status = "done";
}

main().catch((e: unknown) => {
  const msg = e instanceof Error ? e.message : String(e);
  console.error(`deep-nrc demo failed: ${msg}`);
  $("status").textContent = `failed: ${msg}`;
  if (window.__deepNRC) {
    window.__deepNRC.status = "failed";
    window.__deepNRC.error = msg;
  }
});
