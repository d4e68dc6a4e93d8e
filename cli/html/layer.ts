// The HTML report of `intnpu layer --html`: the layer's kernel runs as a roofline, latency by binding resource,
// stall causes, and the unit timeline of the FFN's first linear (fc1) re-run with tracing on the same machine.
import seedrandom from 'seedrandom';
import { runLinearSim } from '../../programs/index.js';
import type { LayerSimResult } from '../../programs/models/layer.js';
import type { MachineConfig } from '../../sim/config.js';
import { timelineFrom, type TimelineData } from './page.js';
import { runsHtml, runSummaryOf } from './runs.js';

/** fc1 ([seq, hidden] x [hidden, ffn], the layer's plain `linear` kernel) re-run with the trace on, seeded data. */
export function fc1Timeline(r: Pick<LayerSimResult, 'steps' | 'seq' | 'hidden' | 'ffn'>, cfg: MachineConfig): TimelineData | undefined {
  // fc1 is the plain `linear` kernel, or (fused, the default) the first part of `linear-gelu`, whose MXU schedule it is
  const step = r.steps.find((s) => (s.kernel === 'linear' || s.kernel === 'linear-gelu') && s.ran);
  if (!step) return undefined;
  const [M, K, N] = [r.seq, r.hidden, r.ffn];
  const rng = seedrandom.alea('intnpu-html-fc1');
  const ints = (n: number, lo: number, hi: number): number[] => Array.from({ length: n }, () => lo + Math.floor(rng() * (hi - lo + 1)));
  const run = runLinearSim(Int8Array.from(ints(M * K, -128, 127)), Int8Array.from(ints(N * K, -127, 127)), Int32Array.from(ints(N, -65536, 65536)), M, K, N, cfg, { trace: true });
  if (!run.sim.trace) return undefined;
  const cyc = run.sim.stats.cycles ?? 0;
  const same = cyc === step.cycles ? 'the same cycles as in the layer run' : `${cyc.toLocaleString('en-US')} cycles here, ${step.cycles.toLocaleString('en-US')} in the layer run`;
  const what = step.kernel === 'linear' ? `step ${step.steps.join('-')} (${step.name}, linear ${M}x${K}x${N})` : `fc1 (linear ${M}x${K}x${N}, in the layer fused with i-GELU as step ${step.steps.join('-')} ${step.name})`;
  return timelineFrom(`${what} re-run with tracing on seeded data: ${same}`, run.sim.trace, cyc);
}

export function layerHtml(r: LayerSimResult, cfg: MachineConfig, source: string): string {
  const runs = r.steps.filter((s) => s.ran).map((s) => runSummaryOf(`${s.steps.join('-')} ${s.name}`, cfg, { cycles: s.cycles, macs: s.macs, dram_bytes: s.dram_bytes, busy: s.busy_cycles, stalls: s.stall_cycles }));
  const cols = ['step', 'name', 'kernel', 'shape', 'cycles', 'MACs', 'DRAM bytes', 'MXU util', 'VPU util', 'energy (uJ)', 'bit-exact'];
  const rows = r.steps.map((s) => [s.steps.join('-'), s.name, s.kernel, s.shape.join('x'), s.cycles, s.macs, s.dram_bytes, s.mxu_utilization, s.vpu_utilization, s.energy_pj / 1e6, s.ran ? s.identical_to_reference : 'not run']);
  const energy = r.steps.reduce((n, s) => n + s.energy_pj, 0) / 1e6;
  return runsHtml(
    `intnpu layer: ${source}`,
    `seq ${r.seq}, hidden ${r.hidden}, ${r.heads} heads, FFN ${r.ffn} on ${cfg.name} (${cfg.mxu.rows}x${cfg.mxu.cols} MXU, ${cfg.vpu.lanes} lanes, ${cfg.dram.bytesPerCycle} B/cycle DRAM, ${cfg.clockGHz} GHz): ` +
      `${r.total_cycles.toLocaleString('en-US')} cycles = ${r.latency_us.toFixed(2)} us, ${energy.toFixed(2)} uJ, ${r.bit_exact ? 'every step bit-exact against the reference' : 'NOT bit-exact'}`,
    runs, fc1Timeline(r, cfg), cols, rows,
    `The layer latency is the sum of the bars: ${r.schedule}.`,
  );
}
