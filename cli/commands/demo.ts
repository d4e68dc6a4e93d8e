// `intnpu` with no command: the main job. One BERT-base projection (int8 x[128,768] . W[768,768]^T plus
// int32 bias) and its requantization to int8, on the simulator, checked element by element against the
// TypeScript reference, with the latency report an architect reads first.
import seedrandom from 'seedrandom';
import type { CommandModule } from 'yargs';
import { linearModel } from '../../programs/linear/model.js';
import { linearRef } from '../../kernels/ref/linear.js';
import { requantDirect } from '../../kernels/ref/requant.js';
import { runLinearSim, runRequantSim } from '../../programs/index.js';
import { loadMachine } from '../../sim/config.js';
import { formatStats } from '../../sim/report.js';
import { EXIT, handler, printJson, sizeArgs, UsageError } from '../common.js';

interface Args {
  machine: string;
  seq: number;
  hidden: number;
  out: number;
  seed: string;
  json?: boolean | undefined;
}

/** First index where two arrays differ, or -1. */
export function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Host-side calibration (compile time, floats allowed): m/2^e ~ target/sigma with a 31-bit m. */
function requantConstants(acc: Int32Array, targetStd: number): { multiplier: number; shift: number } {
  let s = 0;
  for (const v of acc) s += v * v;
  const sigma = Math.sqrt(s / acc.length) || 1;
  const r = targetStd / sigma;
  const k = Math.floor(Math.log2(r)) + 1; // r = mu * 2^k, mu in [0.5, 1)
  const shift = 31 - k;
  return { multiplier: Math.min(Math.round(r * 2 ** shift), 2 ** 31 - 1), shift };
}

export const demoCommand: CommandModule<object, Args> = {
  command: '$0',
  describe: 'Main job: a BERT-base projection (128x768 by 768x768 + bias) and its int8 requantization on the simulator, verified',
  builder: (y) =>
    y
      .option('machine', { alias: 'm', type: 'string', default: 'edge', describe: 'preset or JSON file' })
      .option('seq', { type: 'number', default: 128, describe: 'rows (tokens)' })
      .option('hidden', { type: 'number', default: 768, describe: 'input features K' })
      .option('out', { type: 'number', default: 768, describe: 'output features N' })
      .option('seed', { type: 'string', default: 'intnpu-demo' })
      .option('json', { type: 'boolean' }),
  handler: handler((a: Args) => {
    const { seq: M, hidden: K, out: N } = sizeArgs({ seq: a.seq, hidden: a.hidden, out: a.out });
    if (M * K > 2 ** 26 || N * K > 2 ** 26) throw new UsageError(`--seq ${M} --hidden ${K} --out ${N}: tensors over 2^26 elements are too large for the demo`);
    const cfg = loadMachine(a.machine);
    const rng = seedrandom.alea(a.seed);
    const int = (lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
    const x = Int8Array.from({ length: M * K }, () => int(-128, 127));
    const w = Int8Array.from({ length: N * K }, () => int(-127, 126)); // I-BERT weight range
    const bias = Int32Array.from({ length: N }, () => int(-(1 << 16), 1 << 16));

    const t0 = performance.now();
    const lin = runLinearSim(x, w, bias, M, K, N, cfg);
    const t1 = performance.now();
    const accRef = linearRef(x, w, bias, M, K, N);
    const { multiplier, shift } = requantConstants(accRef, 40);
    const rq = runRequantSim(lin.y, multiplier, shift, 8, cfg);
    const t2 = performance.now();
    const yRef = requantDirect(accRef, multiplier, shift, 8);

    const badLin = firstMismatch(lin.y, accRef);
    const badRq = firstMismatch(rq.y, yRef);
    const cyclesLin = lin.sim.stats.cycles!, cyclesRq = rq.sim.stats.cycles!;
    const total = cyclesLin + cyclesRq;
    const lm = linearModel(M, K, N, cfg);
    const report = {
      shape: { M, K, N },
      machine: cfg.name,
      verified: badLin < 0 && badRq < 0,
      linear: { cycles: cyclesLin, model_cycles: lin.model.cycles, mac_bound_cycles: lm.macBoundCycles, dram_bound_cycles: lm.dramBoundCycles, stats: lin.sim.stats },
      requant: { multiplier, shift, cycles: cyclesRq, model_cycles: rq.model.cycles, stats: rq.sim.stats },
      total_cycles: total,
      latency_us: total / (cfg.clockGHz * 1e3),
      host_ms: { linear: t1 - t0, requant: t2 - t1 },
      mismatch: badLin >= 0 ? { kernel: 'linear', index: badLin, sim: lin.y[badLin], ref: accRef[badLin] } : badRq >= 0 ? { kernel: 'requant', index: badRq, sim: rq.y[badRq], ref: yRef[badRq] } : null,
    };
    if (a.json) {
      printJson(report);
    } else {
      const out = process.stdout;
      out.write(`intnpu: BERT-base projection, int8 x[${M},${K}] . W[${N},${K}]^T + bias -> int32 -> requant (m=${multiplier}, e=${shift}) -> int8\n\n`);
      out.write(`== linear ==\n${formatStats(lin.sim, cfg, lin.model.cycles)}\n`);
      out.write(`roofline           MAC-bound ${lm.macBoundCycles.toLocaleString('en-US')} cycles, DRAM-bound ${lm.dramBoundCycles.toLocaleString('en-US')} cycles\n\n`);
      out.write(`== requant ==\n${formatStats(rq.sim, cfg, rq.model.cycles)}\n\n`);
      out.write(`total              ${total.toLocaleString('en-US')} cycles = ${report.latency_us.toFixed(2)} us at ${cfg.clockGHz} GHz\n`);
      out.write(`verified           ${report.verified ? `bit-exact against the reference (${(M * N).toLocaleString('en-US')} int32 and ${(M * N).toLocaleString('en-US')} int8 outputs compared)` : 'MISMATCH'}\n`);
      out.write(`host time          ${(t1 - t0).toFixed(0)} ms linear, ${(t2 - t1).toFixed(0)} ms requant (cold start: program build, assembly and JIT warm-up included; npm run bench measures steady-state speed)\n`);
      if (report.mismatch) out.write(`first mismatch     ${JSON.stringify(report.mismatch)}\n`);
    }
    return report.verified ? EXIT.ok : EXIT.mismatch;
  }),
};
