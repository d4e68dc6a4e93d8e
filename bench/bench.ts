// `npm run bench`: host speed of the simulator, measured side by side with a plain int8 GEMM loop in
// the same process (these machines are shared and noisy: quote the ratios). Writes bench/results/*.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import seedrandom from 'seedrandom';
import { linearRef } from '../kernels/ref/linear.js';
import { assembleBuilt, buildLinear, runLinearSim, runRequantSim } from '../programs/index.js';
import { loadMachine } from '../sim/config.js';
import { Machine } from '../sim/machine.js';
import { loadProgram, simulate, type SimMode } from '../sim/run.js';

const M = 128, K = 768, N = 768;
const MACS = M * K * N;
const REPS = Number(process.env['BENCH_REPS'] ?? 5);

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => void, reps = REPS): number {
  fn(); // warm-up (JIT)
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

/** The baseline: a plain i-j-k triple loop over the same int8 operands (what a naive simulator does). */
function plainGemm(x: Int8Array, w: Int8Array, bias: Int32Array, y: Int32Array): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = bias[j]!;
      for (let k = 0; k < K; k++) s += x[i * K + k]! * w[j * K + k]!;
      y[i * N + j] = s | 0;
    }
  }
}

async function main(): Promise<void> {
  const rng = seedrandom.alea('bench');
  const x = Int8Array.from({ length: M * K }, () => Math.floor(rng() * 256) - 128);
  const w = Int8Array.from({ length: N * K }, () => Math.floor(rng() * 253) - 127);
  const bias = Int32Array.from({ length: N }, () => Math.floor(rng() * 2 ** 17) - 2 ** 16);
  const edge = loadMachine('edge');
  const server = loadMachine('server');

  const y = new Int32Array(M * N);
  const plainMs = time(() => plainGemm(x, w, bias, y));
  const ref = linearRef(x, w, bias, M, K, N);
  const plainOk = y.every((v, i) => v === ref[i]);

  // The simulator proper: the program is built, assembled and decoded once (as a sweep would), the
  // inputs written, then simulate() is timed. End-to-end (build + assemble + run) is reported too.
  const simOnly = (cfg: typeof edge, mode: SimMode): (() => void) => {
    const prog = assembleBuilt(buildLinear(M, K, N, cfg), cfg);
    const loaded = loadProgram(prog.words, prog);
    const m = new Machine(cfg);
    for (const [name, data] of [['x', x], ['w', w], ['bias', bias]] as const) m.writeBuffer(prog.buffers.get(name)!, data);
    return () => void simulate(loaded, cfg, { machine: m, mode });
  };
  const fullMs = time(simOnly(edge, 'full'));
  const timingMs = time(simOnly(edge, 'timing'));
  const functionalMs = time(simOnly(edge, 'functional'));
  const serverMs = time(simOnly(server, 'full'));
  let last = runLinearSim(x, w, bias, M, K, N, edge);
  const endToEndMs = time(() => (last = runLinearSim(x, w, bias, M, K, N, edge)));
  const exact = last.y.every((v, i) => v === ref[i]);
  const instrs = last.sim.stats.instructions;

  // Instruction throughput on an instruction-heavy program: requant of the 128x768 accumulator.
  let rq = runRequantSim(last.y, 1142100666, 42, 8, edge);
  const rqMs = time(() => (rq = runRequantSim(last.y, 1142100666, 42, 8, edge)));

  const gmacs = (ms: number): number => MACS / (ms * 1e6);
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    host: { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown' },
    reps: REPS,
    shape: { M, K, N, macs: MACS },
    plain_loop: { ms: plainMs, gmac_per_s: gmacs(plainMs), correct: plainOk },
    sim_full_edge: {
      ms: fullMs, gmac_per_s: gmacs(fullMs), bit_exact: exact, simulated_cycles: last.sim.stats.cycles,
      mxu_utilization: last.sim.stats.mxu_utilization, instructions: instrs, instructions_per_s: instrs / (fullMs / 1e3),
    },
    sim_timing_only_edge: { ms: timingMs, gmac_per_s: gmacs(timingMs), instructions_per_s: instrs / (timingMs / 1e3) },
    sim_functional_only_edge: { ms: functionalMs, gmac_per_s: gmacs(functionalMs) },
    end_to_end_edge: { ms: endToEndMs, note: 'program build + assembly + decode + simulation + output readback' },
    sim_full_server: { ms: serverMs, gmac_per_s: gmacs(serverMs) },
    requant_edge: { ms: rqMs, instructions: rq.sim.stats.instructions, instructions_per_s: rq.sim.stats.instructions / (rqMs / 1e3), elements_per_s: (M * N) / (rqMs / 1e3) },
    ratios: {
      sim_full_vs_plain_loop: plainMs / fullMs,
      sim_timing_only_vs_plain_loop: plainMs / timingMs,
    },
  };

  // The I-BERT reference layer (kernels/), when its benchmark module is present.
  try {
    const mod = (await import(new URL('./reference-layer.js', import.meta.url).href)) as { benchReferenceLayer?: () => Promise<Record<string, unknown>> };
    if (mod.benchReferenceLayer) result['reference_layer'] = await mod.benchReferenceLayer();
  } catch (e) {
    result['reference_layer'] = { skipped: (e as Error).message };
  }

  // A whole BERT-base encoder layer on the simulator (edge and server), every step checked.
  try {
    const mod = (await import(new URL('./layer-sim.js', import.meta.url).href)) as { benchLayerSim?: () => Promise<Record<string, unknown>> };
    if (mod.benchLayerSim) result['layer_sim'] = await mod.benchLayerSim();
  } catch (e) {
    result['layer_sim'] = { skipped: (e as Error).message };
  }

  // A two-layer BERT-base model from its config.json on the simulator (edge), every step checked.
  try {
    const mod = (await import(new URL('./model-sim.js', import.meta.url).href)) as { benchModelSim?: () => Promise<Record<string, unknown>> };
    if (mod.benchModelSim) result['model_sim'] = await mod.benchModelSim();
  } catch (e) {
    result['model_sim'] = { skipped: (e as Error).message };
  }

  mkdirSync('bench/results', { recursive: true });
  const json = JSON.stringify(result, null, 2) + '\n';
  writeFileSync('bench/results/latest.json', json);
  process.stdout.write(json);
  const r = result['ratios'] as { sim_full_vs_plain_loop: number };
  process.stdout.write(`\nsimulator (functional+timing) ${gmacs(fullMs).toFixed(2)} G MAC/s vs plain loop ${gmacs(plainMs).toFixed(2)} G MAC/s: ${r.sim_full_vs_plain_loop.toFixed(2)}x, written to bench/results/latest.json\n`);
}

await main();
