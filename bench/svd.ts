/**
 * SVD benchmark: the wasm backend's bidiagonal SVD against numpy (LAPACK gesdd), interleaved
 * round by round in one run (a persistent python child times its side of each round), so both
 * see the same machine load. Also the old path (preconditioned one-sided Jacobi) and NRC4's
 * whole exact fallback on a 10000×512 layer with 30 % dead (zero) units.
 *
 *     npm run bench:svd [-- --rounds 7 --threads 2]
 *
 * With `--threads 1` numpy runs single-threaded too (OPENBLAS_NUM_THREADS=1 etc.), and the CPU
 * times (process CPU, both sides) are the figures to compare on a shared, loaded machine: wall
 * times there measure the neighbours as much as the code (multi-threaded BLAS suffers most).
 *
 * Tasks (median ms over the rounds, after one warm-up round):
 *   values    singular values of a 512×512 Gaussian matrix (svdParts(a) / svd(compute_uv=False))
 *   full      thin SVD of it (svd / svd(full_matrices=False))
 *   parts     what NRC4 needs of a 516×516 triangular R: S and Uᵀ·B for B 516×3
 *             (svdParts(R, {b}) / svd(R) then U.T @ B)
 *   fallback  NRC4's exact route on H 10000×512 (30 % zero columns), Y 10000×3: QR of [H|Y|1],
 *             then the residual from R (nrc4Residual; numpy: qr + svd + U.T @ Z)
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { wasmBackend, WASM_JACOBI_SVD } from "../src/backends/wasm/index.js";
import { completeKernels } from "../src/backends/complete.js";
import { svdPartsFromSvd, scaledSvdParts } from "../src/backends/scaled.js";
import type { CompleteKernels, Mat, SvdResult } from "../src/backends/types.js";
import { augmented, nrc4Residual, type LayerStats } from "../src/stats/moments.js";
import { makeRng } from "../src/io/synthetic.js";
import { findPython, machine, median, writeNpyF64 } from "./common.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg("rounds", 7);
const THREADS = arg("threads", 2);

function gaussian(rows: number, cols: number, seed: number): Mat {
  const rng = makeRng(seed);
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { rows, cols, data };
}

async function main(): Promise<void> {
  const raw = await wasmBackend({ threads: THREADS }).init();
  const k = completeKernels(raw);
  const jacobi = (raw as unknown as Record<symbol, (a: Mat) => SvdResult>)[WASM_JACOBI_SVD];
  // The old exact path: svdParts from the Jacobi SVD.
  const kOld: CompleteKernels = { ...k, svdParts: scaledSvdParts(svdPartsFromSvd(jacobi)) };

  const A = gaussian(512, 512, 1);
  // R: the triangular factor of a 4000×516 Gaussian matrix (well conditioned, like NRC4's).
  const R = (await k.qr(gaussian(4000, 516, 2))).R;
  const B = gaussian(516, 3, 3);
  // The layer: ReLU features with 30 % dead units, targets.
  const N = 10000;
  const d = 512;
  const H = gaussian(N, d, 4);
  const Y = gaussian(N, 3, 5);
  const rng = makeRng(6);
  for (let j = 0; j < d; j++) {
    const dead = rng.uniform() < 0.3;
    for (let i = 0; i < N; i++) {
      const v = H.data[i * d + j];
      H.data[i * d + j] = dead ? 0 : Math.max(v, 0);
    }
  }
  const meanY = new Float64Array(3);
  for (let i = 0; i < N; i++) for (let c = 0; c < 3; c++) meanY[c] += Y.data[i * 3 + c] / N;
  const rtol = Math.max(N, d) * 2 ** -52;
  const fallback = async (kk: CompleteKernels): Promise<number> => {
    const r = (await kk.qr(augmented(H, Y))).R;
    const s = { d, q: 3, r, meanY } as unknown as LayerStats & { r: Mat };
    return nrc4Residual(kk, s, rtol);
  };

  const ours: Record<string, () => Promise<unknown>> = {
    values: async () => k.svdParts(A),
    full: async () => k.svd(A),
    "full (Jacobi, old)": async () => jacobi(A),
    parts: async () => k.svdParts(R, { b: B }),
    "parts (Jacobi, old)": async () => kOld.svdParts(R, { b: B }),
    fallback: () => fallback(k),
    "fallback (Jacobi, old)": () => fallback(kOld),
  };
  const numpyOf: Record<string, string> = {
    values: "values",
    full: "full",
    parts: "parts",
    fallback: "fallback",
  };

  const py = findPython();
  let ask: ((task: string) => Promise<[number, number]>) | null = null;
  let stop = (): void => {};
  const dir = mkdtempSync(join(tmpdir(), "nrc-svd-"));
  if (py) {
    writeNpyF64(join(dir, "A.npy"), A);
    writeNpyF64(join(dir, "R.npy"), R);
    writeNpyF64(join(dir, "B.npy"), B);
    writeNpyF64(join(dir, "L.npy"), H);
    writeNpyF64(join(dir, "Y.npy"), Y);
    const one = THREADS === 1 ? "1" : undefined;
    const env = one
      ? { ...process.env, OPENBLAS_NUM_THREADS: one, OMP_NUM_THREADS: one, MKL_NUM_THREADS: one }
      : process.env;
    const child = spawn(py, [join(import.meta.dirname, "svd_numpy.py"), dir], {
      stdio: ["pipe", "pipe", "inherit"],
      env,
    });
    const lines = createInterface({ input: child.stdout });
    const queue: ((l: string) => void)[] = [];
    lines.on("line", (l) => queue.shift()?.(l));
    await new Promise<string>((res) => queue.push(res));
    ask = (task) =>
      new Promise<[number, number]>((res) => {
        queue.push((l) => {
          const o = JSON.parse(l) as { ms: number; cpu: number };
          res([o.ms, o.cpu]);
        });
        child.stdin.write(task + "\n");
      });
    stop = () => child.stdin.end();
  }

  const npDone = new Set<string>();
  const times: Record<string, number[]> = {};
  const cpus: Record<string, number[]> = {};
  const npTimes: Record<string, number[]> = {};
  const npCpus: Record<string, number[]> = {};
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, fn] of Object.entries(ours)) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await fn();
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (round > 0) {
        (times[name] ??= []).push(ms);
        (cpus[name] ??= []).push((c.user + c.system) / 1000);
      }
      const np = numpyOf[name];
      if (np && ask && !npDone.has(np)) {
        npDone.add(np);
        const [t, cpu] = await ask(np);
        if (round > 0) {
          (npTimes[np] ??= []).push(t);
          (npCpus[np] ??= []).push(cpu);
        }
      }
    }
    npDone.clear();
  }
  stop();
  rmSync(dir, { recursive: true, force: true });
  await raw.dispose?.();

  console.log(`# bench:svd  (${ROUNDS} interleaved rounds, median ms; wasm threads ${THREADS})`);
  console.log(JSON.stringify(machine()));
  console.log(
    "task                     wall: deep-nrc    numpy   ratio   cpu: deep-nrc    numpy   ratio",
  );
  const f = (x: number) => x.toFixed(1).padStart(9);
  for (const [name, ts] of Object.entries(times)) {
    const base = name.replace(/ \(Jacobi, old\)$/, "");
    const np = npTimes[numpyOf[base] ?? ""];
    const npc = npCpus[numpyOf[base] ?? ""];
    const w = median(ts);
    const c = median(cpus[name]);
    const nw = np ? median(np) : NaN;
    const nc = npc ? median(npc) : NaN;
    console.log(
      `${name.padEnd(24)}  ${f(w)} ${np ? f(nw) : "      n/a"} ${np ? (w / nw).toFixed(2).padStart(6) + "×" : "       "}  ${f(c)} ${npc ? f(nc) : "      n/a"} ${npc ? (c / nc).toFixed(2).padStart(6) + "×" : ""}`,
    );
  }
  // The symEig shortcut of nrc4Residual against svdParts on a healthy 512×512 R_H.
  const k2 = completeKernels(await wasmBackend({ threads: THREADS }).init());
  const Rh: Mat = (await k2.qr(gaussian(4000, 512, 7))).R;
  const Zb = gaussian(512, 3, 8);
  const se: number[] = [];
  const sp: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    let t0 = performance.now();
    await k2.symEig(await k2.gram(Rh));
    if (r > 0) se.push(performance.now() - t0);
    t0 = performance.now();
    await k2.svdParts(Rh, { b: Zb });
    if (r > 0) sp.push(performance.now() - t0);
  }
  await k2.dispose?.();
  console.log(
    `healthy R_H 512×512: symEig(gram) shortcut ${median(se).toFixed(1)} ms, svdParts(R_H, b) ${median(sp).toFixed(1)} ms`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
