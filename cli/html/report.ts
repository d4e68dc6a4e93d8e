// The HTML report of `intnpu report --html`: every kernel on each machine as a roofline, latency by binding
// resource, stall causes, and the unit timeline of the first kernel run (traced).
import type { TimelineData } from './page.js';
import { runsHtml, type RunSummary } from './runs.js';

export function reportHtml(size: string, rows: readonly Record<string, unknown>[], runs: readonly RunSummary[], timeline: TimelineData | undefined): string {
  const cols = ['machine', 'kernel', 'shape', 'cycles', 'model_cycles', 'mxu_utilization', 'vpu_utilization', 'dram_bytes', 'sim_equals_npu'];
  const cell = (v: unknown): string | number | boolean | null => (v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : (v as string | number | boolean));
  return runsHtml(`intnpu report (${size} examples)`, `${rows.length} kernel runs on ${[...new Set(runs.map((r) => r.machine))].join(', ')}`, runs, timeline,
    cols, rows.map((r) => cols.map((c) => cell(r[c]))), 'Each kernel runs its example case alone on an idle machine; achieved MAC/s counts the MXU MACs only.');
}
