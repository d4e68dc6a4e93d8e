// The HTML report of `intnpu model --html`: the kernels of every layer summed by step (so the bars are the 15 kernel
// runs of a layer, each over all layers), the roofline of those sums, the stall causes, fc1's unit timeline
// (layer 0's shape re-run with tracing) and a table per stage.
import type { ModelSimResult } from '../../programs/models/model.js';
import type { MachineConfig } from '../../sim/config.js';
import { fc1Timeline } from './layer.js';
import { runsHtml, runSummaryOf, type RunSummary } from './runs.js';

export function modelHtml(r: ModelSimResult, cfg: MachineConfig, source: string): string {
  const sums = new Map<string, { cycles: number; macs: number; dram_bytes: number; busy: Record<string, number>; stalls: Record<string, number> }>();
  for (const l of r.layers) {
    for (const s of l.steps) {
      if (!s.ran) continue;
      const key = `${s.steps.join('-')} ${s.name}`;
      const acc = sums.get(key) ?? { cycles: 0, macs: 0, dram_bytes: 0, busy: {}, stalls: {} };
      acc.cycles += s.cycles;
      acc.macs += s.macs;
      acc.dram_bytes += s.dram_bytes;
      for (const [u, v] of Object.entries(s.busy_cycles)) acc.busy[u] = (acc.busy[u] ?? 0) + v;
      for (const [c, v] of Object.entries(s.stall_cycles)) acc.stalls[c] = (acc.stalls[c] ?? 0) + v;
      sums.set(key, acc);
    }
  }
  const runs: RunSummary[] = [...sums.entries()].map(([label, s]) => runSummaryOf(label, cfg, s));
  const cols = ['stage', 'kernel runs', 'cycles', 'MACs', 'DRAM bytes', 'MXU util', 'bit-exact'];
  const e = r.embeddings;
  const rows = [
    ['embeddings', e.steps.length, e.total_cycles, 0, e.total_dram_bytes, null, e.bit_exact] as const,
    ...r.layers.map((l, i) => [`layer ${i}`, l.steps.length, l.total_cycles, l.total_macs, l.total_dram_bytes, l.mxu_utilization, l.bit_exact] as const),
  ];
  const layer0 = r.layers[0];
  return runsHtml(
    `intnpu model: ${source}`,
    `${r.layers.length} layer(s), seq ${r.seq}, hidden ${r.hidden}, ${r.heads} heads, FFN ${r.ffn} on ${cfg.name} (${cfg.mxu.rows}x${cfg.mxu.cols} MXU, ${cfg.vpu.lanes} lanes, ${cfg.dram.bytesPerCycle} B/cycle DRAM): ` +
      `${r.total_cycles.toLocaleString('en-US')} cycles = ${r.latency_us.toFixed(2)} us, ${r.bit_exact ? 'bit-exact' : 'NOT bit-exact'}`,
    runs, layer0 ? fc1Timeline(layer0, cfg) : undefined, cols, rows,
    `Each bar sums one kernel run of the layer schedule over all ${r.layers.length} layer(s); the embedding stage (${e.total_cycles.toLocaleString('en-US')} cycles) is in the table only. ${r.schedule}`,
  );
}
