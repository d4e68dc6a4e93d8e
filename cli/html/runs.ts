// The HTML report of kernel runs (the steps of `intnpu layer`, the rows of `intnpu report`): a roofline, per-run
// latency stacked by its binding resource, the stall causes, and a zoomable unit timeline of one traced run.
import { STALL_CAUSES } from '../../sim/timing.js';
import type { MachineConfig } from '../../sim/config.js';
import type { SimStats } from '../../sim/run.js';
import { busyCycles, stallsHit } from '../../sim/report.js';
import { boundOf } from '../sweep/workloads.js';
import { htmlTable, page, timelineChart, timelineScript, type TimelineData } from './page.js';
import { PALETTE, scatter, stackedBars, type Series } from './svg.js';

export interface RunSummary {
  /** bar label: "1-2 query8" or "edge linear" */
  readonly label: string;
  readonly machine: string;
  readonly cycles: number;
  readonly macs: number;
  readonly dram_bytes: number;
  readonly busy: Readonly<Record<string, number>>;
  readonly stalls: Readonly<Record<string, number>>;
  readonly clockGHz: number;
  /** MXU rows x cols: MACs per cycle at peak */
  readonly peakMacsPerCycle: number;
  readonly dramBytesPerCycle: number;
}

export function runSummaryOf(label: string, cfg: MachineConfig, s: { cycles: number; macs: number; dram_bytes: number; busy: Readonly<Record<string, number>>; stalls: Readonly<Record<string, number>> }): RunSummary {
  return { label, machine: cfg.name, ...s, clockGHz: cfg.clockGHz, peakMacsPerCycle: cfg.mxu.rows * cfg.mxu.cols, dramBytesPerCycle: cfg.dram.bytesPerCycle };
}

/** A run's summary from its simulator statistics. */
export function runSummaryFromStats(label: string, cfg: MachineConfig, s: SimStats): RunSummary {
  return runSummaryOf(label, cfg, { cycles: s.cycles ?? 0, macs: s.macs, dram_bytes: s.dram_bytes, busy: busyCycles(s), stalls: stallsHit(s) });
}

const RESOURCES = ['mxu', 'vpu', 'dram', 'scalar', 'divider'] as const;
export const RESOURCE_COLORS: Record<string, string> = { mxu: PALETTE[0]!, vpu: PALETTE[1]!, dram: PALETTE[2]!, scalar: PALETTE[3]!, divider: PALETTE[6]!, 'rest of the run': '#c9ccd1' };

export function roofline(runs: readonly RunSummary[]): string {
  const machines = [...new Map(runs.map((r) => [r.machine, r])).values()];
  const withMacs = runs.filter((r) => r.macs > 0 && r.dram_bytes > 0 && r.cycles > 0);
  const ois = withMacs.map((r) => r.macs / r.dram_bytes);
  const lo = Math.min(0.1, ...ois) / 2, hi = Math.max(1000, ...ois) * 2;
  const series: Series[] = [];
  machines.forEach((m, i) => {
    const peak = m.peakMacsPerCycle * m.clockGHz; // GMAC/s
    const bw = m.dramBytesPerCycle * m.clockGHz; // GB/s
    const ridge = peak / bw;
    const pts = [{ x: lo, y: lo * bw }, ...(ridge > lo && ridge < hi ? [{ x: ridge, y: peak }] : []), { x: hi, y: Math.min(peak, hi * bw) }];
    series.push({ name: `${m.machine} ceilings`, color: PALETTE[(i + 4) % PALETTE.length]!, lineOnly: true, dash: true,
      points: pts.map((p) => ({ x: p.x, y: p.y, tip: `${m.machine}: ${peak.toFixed(1)} GMAC/s peak, ${bw.toFixed(1)} GB/s DRAM` })) });
  });
  machines.forEach((m, i) => {
    series.push({ name: `${m.machine} runs`, color: PALETTE[i % PALETTE.length]!,
      points: withMacs.filter((r) => r.machine === m.machine).map((r) => {
        const oi = r.macs / r.dram_bytes, gmacs = r.macs / r.cycles * r.clockGHz;
        return { x: oi, y: gmacs, tip: `${r.label} (${r.machine}): ${oi.toFixed(2)} MAC/byte, ${gmacs.toFixed(2)} GMAC/s achieved, ${r.cycles.toLocaleString('en-US')} cycles` };
      }) });
  });
  return scatter('roofline', 'Roofline: achieved MAC/s vs operational intensity', { label: 'operational intensity (MACs per DRAM byte, log)', log: true }, { label: 'achieved GMAC/s (log)', log: true }, series);
}

export function latencyByBound(runs: readonly RunSummary[]): string {
  const stacks = runs.map((r) => {
    const b = boundOf(r.busy, r.cycles);
    const busy = Math.min(r.cycles, r.busy[b.bound] ?? 0);
    return { category: r.label, parts: { [b.bound]: busy, 'rest of the run': r.cycles - busy }, tip: `${r.cycles.toLocaleString('en-US')} cycles; bound by ${b.bound} (busy ${(b.share * 100).toFixed(1)} %)` };
  });
  const colors: Record<string, string> = {};
  for (const k of [...RESOURCES, 'none', 'rest of the run']) colors[k] = RESOURCE_COLORS[k] ?? '#888';
  return stackedBars('latency-by-bound', 'Latency per run, by binding resource (busy part / rest)', 'run', 'cycles', stacks, colors);
}

export function stallBars(runs: readonly RunSummary[]): string {
  const colors: Record<string, string> = {};
  STALL_CAUSES.forEach((c, i) => (colors[c] = PALETTE[(i + 2) % PALETTE.length]!));
  const stacks = runs.map((r) => ({ category: r.label, parts: r.stalls }));
  if (!runs.some((r) => Object.values(r.stalls).some((v) => v > 0))) {
    // nothing stalled: one visible mark so that the chart says so rather than being empty
    return stackedBars('stalls', 'Stall cycles by cause (no stalls)', 'run', 'stall cycles', runs.map((r) => ({ category: r.label, parts: { none: 0.0001 } })), { none: '#c9ccd1' });
  }
  return stackedBars('stalls', 'Stall cycles by cause (charged to the instruction that waited)', 'run', 'stall cycles', stacks, colors);
}

export function runsHtml(title: string, subtitle: string, runs: readonly RunSummary[], timeline: TimelineData | undefined, tableCols: readonly string[], tableRows: readonly (readonly (string | number | boolean | null)[])[], notes: string): string {
  const body = `<h2>Charts</h2><div class="charts">${roofline(runs)}${latencyByBound(runs)}${stallBars(runs)}</div>
${timeline ? `<h2>Unit timeline</h2>${timelineChart('timeline', timeline)}` : ''}
<h2>Table</h2>${htmlTable(tableCols, tableRows)}
<p class="note">${notes}</p>${timeline ? timelineScript() : ''}`;
  return page(title, subtitle, body);
}
