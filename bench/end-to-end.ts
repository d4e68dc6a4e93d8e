// End-to-end figures (issue 9): what a user waits for, beside a plain int8 triple loop over the same MACs measured
// in the same run, interleaved (this machine is shared and noisy: quote the ratios):
// - `intnpu layer --size base --machine edge`, process start to exit, against the plain loop over the layer's
//   931,135,488 MACs (its GEMM shapes one by one), and the peak resident memory of that process;
// - `intnpu kernel linear --engine sim` on .npy cases 64x768x3072 and 512x768x3072: the extra wall time of
//   M = 512 over M = 64 (start-up and fixed costs cancel) against the plain loop over the extra MACs;
// - program build (+ assembly, none for word-built programs) of the layer's linear programs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';
import { rand8, type GemmShape } from './plain-loop.js';
import { encodeNpy } from '../kernels/ref/npy.js';
import { assembleBuilt, buildLinear } from '../programs/index.js';
import { buildLinearRequant } from '../programs/linear-requant/build.js';
import { loadMachine } from '../sim/config.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const REPS = Number(process.env['BENCH_E2E_REPS'] ?? 3);

/** [M, K, N, times] of the BERT-base layer's products: Q, K, V, attention output, fc1, fc2, then Q.K^T and P.V per head. */
const LAYER_GEMMS: readonly GemmShape[] = [
  [128, 768, 768, 4], [128, 768, 3072, 1], [128, 3072, 768, 1], [128, 64, 128, 12], [128, 128, 64, 12],
];

const PLAIN = fileURLToPath(new URL('./plain-loop.js', import.meta.url));
let plainRuns = 0;

/** The plain loop over the shapes in a fresh process (bench/plain-loop.ts): the loops' own wall and CPU time. */
function plainMs(shapes: readonly GemmShape[]): { ms: number; cpuMs: number; macs: number } {
  const r = spawnSync(process.execPath, [PLAIN, JSON.stringify({ shapes, seed: `bench end to end ${plainRuns++}` })], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`plain loop exited ${r.status}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { ms: number; cpu_ms: number; macs: number };
  return { ms: j.ms, cpuMs: j.cpu_ms, macs: j.macs };
}

const HOOK = new URL('./rusage-hook.js', import.meta.url).href;

/** A CLI run as a child process: wall time around it, and its own CPU time and peak memory (rusage-hook.ts). */
function run(args: string[], dir: string, env: Record<string, string> = {}): { ms: number; cpuMs: number; peakRssMb: number; stdout: string } {
  const file = join(dir, 'rusage.json');
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', HOOK, CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, ...env, INTNPU_RUSAGE_FILE: file } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`intnpu ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const u = JSON.parse(readFileSync(file, 'utf8')) as { cpu_ms: number; peak_rss_mb: number };
  return { ms, cpuMs: u.cpu_ms, peakRssMb: u.peak_rss_mb, stdout: r.stdout };
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

export async function benchEndToEnd(): Promise<Record<string, unknown>> {
  const rng = seedrandom.alea('bench end to end');

  // The layer: plain loop and CLI run interleaved. The first CLI run starts from an empty cache folder: it generates
  // the layer (the float64 calibration pass), builds the programs and walks the cycle models, and stores all three
  // (cli/layer-cache.ts, cli/memo-store.ts); the others find them there, as a user's second run does.
  const dir = mkdtempSync(join(os.tmpdir(), 'intnpu-bench-'));
  const env = { INTNPU_CACHE_DIR: join(dir, 'cache') };
  const plain: number[] = [], plainCpu: number[] = [], layer: number[] = [], layerCpu: number[] = [], rss: number[] = [];
  let macs = 0, bitExact = true;
  for (let r = 0; r < REPS + 1; r++) {
    const p = plainMs(LAYER_GEMMS);
    plain.push(p.ms);
    plainCpu.push(p.cpuMs);
    macs = p.macs;
    const l = run(['layer', '--size', 'base', '--machine', 'edge', '--json'], dir, env);
    layer.push(l.ms);
    layerCpu.push(l.cpuMs);
    const j = JSON.parse(l.stdout) as { bit_exact: boolean; total_macs: number };
    bitExact &&= j.bit_exact && j.total_macs === macs;
    rss.push(l.peakRssMb);
  }
  const warm = (v: number[]): number[] => v.slice(1);
  const ratios = layer.map((v, i) => v / plain[i]!);
  const cpuRatios = layerCpu.map((v, i) => v / plainCpu[i]!);

  // The kernel CLI on .npy cases: the extra time of M = 512 over M = 64, against the plain loop over the extra MACs.
  const K = 768, N = 3072;
  const w = rand8(rng, N * K), bias = Int32Array.from({ length: N }, () => Math.floor(rng() * 131072) - 65536);
  writeFileSync(join(dir, 'w.npy'), encodeNpy(w, [N, K]));
  writeFileSync(join(dir, 'b.npy'), encodeNpy(bias, [N]));
  const kernelMs: Record<number, number[]> = { 64: [], 512: [] }, kernelCpu: Record<number, number[]> = { 64: [], 512: [] };
  const plainExtra: number[] = [], plainExtraCpu: number[] = [];
  for (const M of [64, 512]) {
    writeFileSync(join(dir, `x${M}.npy`), encodeNpy(rand8(rng, M * K), [M, K]));
    writeFileSync(join(dir, `case${M}.json`), JSON.stringify({ x_int: `x${M}.npy`, weight_int: 'w.npy', bias_int: 'b.npy' }));
  }
  for (let r = 0; r < REPS; r++) {
    for (const M of [64, 512]) {
      const k = run(['kernel', 'linear', '--engine', 'sim', '--input', join(dir, `case${M}.json`)], dir, env);
      kernelMs[M]!.push(k.ms);
      kernelCpu[M]!.push(k.cpuMs);
    }
    const p = plainMs([[512 - 64, K, N, 1]]);
    plainExtra.push(p.ms);
    plainExtraCpu.push(p.cpuMs);
  }
  rmSync(dir, { recursive: true, force: true });
  const extra = median(kernelMs[512]!) - median(kernelMs[64]!);
  const extraCpu = median(kernelCpu[512]!) - median(kernelCpu[64]!);

  // Program build (+ assembly) of the layer's MXU programs, warm (as a sweep builds them).
  const edge = loadMachine('edge');
  const build = (): void => {
    for (const [M, K2, N2] of [[128, 768, 768], [128, 768, 3072], [128, 3072, 768]] as const) assembleBuilt(buildLinear(M, K2, N2, edge), edge);
    assembleBuilt(buildLinearRequant(128, 768, 768, 8, edge), edge);
  };
  build();
  const bt: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    build();
    bt.push(performance.now() - t0);
  }

  return {
    note: 'CLI runs are child processes (process start to exit); the plain loop runs between them, in a fresh process of its own (bench/plain-loop.ts), timed around its loops',
    layer: {
      command: 'intnpu layer --size base --machine edge --json',
      bit_exact: bitExact, plain_loop_macs: macs, target: 'wall and CPU ratio <= 1.0 (aim 0.5); peak memory < 300 MB',
      cold_cache: {
        note: 'first run, empty cache folder: the synthetic layer is generated (float64 calibration pass), the programs built and the cycle models walked, and all stored',
        wall_ms: layer[0], plain_loop_ms: plain[0], ratio_to_plain_loop: ratios[0],
        cpu_ms: layerCpu[0], plain_loop_cpu_ms: plainCpu[0], cpu_ratio_to_plain_loop: cpuRatios[0], peak_rss_mb: rss[0],
      },
      warm_cache: {
        note: `median of ${REPS} runs that read the layer, the programs and the models' plans from the cache`,
        wall_ms: median(warm(layer)), plain_loop_ms: median(warm(plain)), ratio_to_plain_loop: median(warm(ratios)),
        cpu_ms: median(warm(layerCpu)), plain_loop_cpu_ms: median(warm(plainCpu)), cpu_ratio_to_plain_loop: median(warm(cpuRatios)),
        peak_rss_mb: Math.max(...warm(rss)),
      },
      runs: { wall_ms: layer, cpu_ms: layerCpu, plain_wall_ms: plain, plain_cpu_ms: plainCpu, peak_rss_mb: rss },
      cpu_note: 'CPU time (user + system) of the CLI process and of the plain loop: steadier than wall time on a shared machine',
    },
    kernel_linear_cli: {
      command: 'intnpu kernel linear --engine sim --input caseM.json (.npy x, weight, bias), K 768, N 3072',
      m64_ms: median(kernelMs[64]!), m512_ms: median(kernelMs[512]!), extra_ms: extra,
      plain_loop_extra_ms: median(plainExtra), extra_macs: (512 - 64) * K * N,
      speedup_vs_plain_loop: median(plainExtra) / extra, target: '>= 2.0',
      m64_cpu_ms: median(kernelCpu[64]!), m512_cpu_ms: median(kernelCpu[512]!), extra_cpu_ms: extraCpu,
      plain_loop_extra_cpu_ms: median(plainExtraCpu), cpu_speedup_vs_plain_loop: median(plainExtraCpu) / extraCpu,
    },
    program_build_ms: { linear_128x768x768_3072_and_3072x768_plus_linear_requant: median(bt), note: 'word-built: no assembly' },
  };
}
