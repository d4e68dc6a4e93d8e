// The baseline of the end-to-end figures (bench/end-to-end.ts): a plain i-j-k int8 GEMM loop over given shapes, run in
// a fresh process of its own (`node dist/bench/plain-loop.js '{"shapes": [...], "seed": "..."}'` prints
// {"ms", "cpu_ms", "macs"} as JSON), so that what the benchmark process ran before (the in-process layer and model
// benchmarks, a heap of hundreds of megabytes) cannot slow the baseline down: measured inside the benchmark process
// after them, the same loop took 2.0-2.4 s instead of 1.1-1.2 s, which flattered every ratio against it.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';

/** The baseline: a plain i-j-k loop, y = x . w^T + bias, int8 operands. */
export function plainGemm(x: Int8Array, w: Int8Array, bias: Int32Array, y: Int32Array, M: number, K: number, N: number): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = bias[j]!;
      for (let k = 0; k < K; k++) s += x[i * K + k]! * w[j * K + k]!;
      y[i * N + j] = s | 0;
    }
  }
}

export const rand8 = (rng: () => number, n: number): Int8Array => Int8Array.from({ length: n }, () => Math.floor(rng() * 256) - 128);

/** [M, K, N, times] */
export type GemmShape = readonly [number, number, number, number];

/** The loop over the shapes (seeded int8 operands), after a small warm-up: wall and CPU time of the loops alone. */
export function plainMs(shapes: readonly GemmShape[], rng: () => number): { ms: number; cpuMs: number; macs: number } {
  const warm = rand8(rng, 64 * 64);
  plainGemm(warm, warm, new Int32Array(64), new Int32Array(64 * 64), 64, 64, 64);
  let macs = 0, ms = 0, cpuMs = 0;
  for (const [M, K, N, times] of shapes) {
    const x = rand8(rng, M * K), w = rand8(rng, N * K), bias = new Int32Array(N), y = new Int32Array(M * N);
    const t0 = performance.now(), c0 = process.cpuUsage();
    for (let t = 0; t < times; t++) plainGemm(x, w, bias, y, M, K, N);
    ms += performance.now() - t0;
    const c = process.cpuUsage(c0);
    cpuMs += (c.user + c.system) / 1000;
    macs += M * K * N * times;
  }
  return { ms, cpuMs, macs };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv[2] !== undefined) {
  const { shapes, seed } = JSON.parse(process.argv[2]) as { shapes: GemmShape[]; seed: string };
  const r = plainMs(shapes, seedrandom.alea(seed));
  process.stdout.write(`${JSON.stringify({ ms: r.ms, cpu_ms: r.cpuMs, macs: r.macs })}\n`);
}
