// `intnpu report`: every kernel program on its BERT-base example case, on each machine: simulated and
// modelled cycles, MXU and VPU utilization and the main stall causes, checked against the NPU semantics.
import { stallsHit } from '../../sim/report.js';
import type { CommandModule } from 'yargs';
import { loadMachine } from '../../sim/config.js';
import { EXIT, handler, printJson, table, UsageError } from '../common.js';
import { writeOutputFile } from '../files.js';
import { compareOutputs } from '../compare.js';
import { KERNELS, kernelLabel } from '../registry.js';
import { toCsv } from '../csv.js';
import { reportHtml } from '../html/report.js';
import { runSummaryFromStats, type RunSummary } from '../html/runs.js';
import { timelineFrom, type TimelineData } from '../html/page.js';
import { Progress } from '../progress.js';

interface Args {
  machine: string[];
  size: string;
  seed: string;
  kernel?: string | undefined;
  json?: boolean | undefined;
  csv?: boolean | undefined;
  html?: string | undefined;
}

export const reportCommand: CommandModule<object, Args> = {
  command: 'report',
  describe: 'Per-kernel report on each machine (cycles, model, utilization, stall causes, bit-exactness)',
  builder: (y) =>
    y
      .option('machine', { alias: 'm', type: 'string', array: true, default: ['edge', 'server'] })
      .option('size', { type: 'string', choices: ['small', 'base'], default: 'base' })
      .option('seed', { type: 'string', default: 'intnpu-report' })
      .option('kernel', { alias: 'k', type: 'string' })
      .option('json', { type: 'boolean' })
      .option('csv', { type: 'boolean', describe: 'print the rows as CSV (the columns of the JSON rows)' })
      .option('html', { type: 'string', describe: 'also write a self-contained HTML report (roofline, latency by bound, stalls, unit timeline of the first row)' }),
  handler: handler((a: Args) => {
    const rows = [];
    let allExact = true;
    const valid = [...KERNELS.values()].filter((k) => k.sim && k.example).map((k) => k.name);
    if (a.kernel !== undefined && !valid.includes(a.kernel)) {
      throw new UsageError(`--kernel ${a.kernel}: not a kernel the report covers (one of ${valid.join(', ')})`);
    }
    const runs: RunSummary[] = [];
    let timeline: TimelineData | undefined;
    const cfgs = a.machine.map((spec) => loadMachine(spec));
    const chosen = [...KERNELS.values()].filter((k) => k.sim && k.example && (!a.kernel || a.kernel === k.name));
    const progress = new Progress('report', cfgs.length * chosen.length, a.json || a.csv);
    for (const cfg of cfgs) {
      for (const k of chosen) {
        if (!k.sim || !k.example) continue;
        progress.begin(`${cfg.name} ${k.name}`);
        const input = k.example(a.size as 'small' | 'base', a.seed);
        const traced = a.html !== undefined && timeline === undefined;
        const run = k.sim(input, cfg, { trace: traced });
        if (traced && run.sim.trace) timeline = timelineFrom(`${k.name} on ${cfg.name} (${a.size} example)`, run.sim.trace, run.cycles);
        progress.tick(`${cfg.name} ${k.name} done`);
        const npu = k.npu ? compareOutputs(run.y_int, k.npu(input).y_int) : null;
        const exact = npu ? npu.identical === npu.n && !npu.length_mismatch : null;
        if (exact === false) allExact = false;
        const s = run.sim.stats;
        const stalls = Object.entries(stallsHit(s)).sort((x, y) => y[1] - x[1]).slice(0, 3);
        rows.push({
          machine: cfg.name, kernel: kernelLabel(k, input), shape: run.shape, cycles: run.cycles, model_cycles: run.model_cycles,
          sim_over_model: run.cycles / run.model_cycles, mxu_utilization: s.mxu_utilization, vpu_utilization: s.utilization?.['vpu'] ?? null,
          dram_bytes: s.dram_bytes, top_stalls: Object.fromEntries(stalls), sim_equals_npu: exact,
        });
        runs.push(runSummaryFromStats(`${cfg.name} ${k.name}`, cfg, s));
      }
    }
    progress.end();
    if (a.html) writeOutputFile(a.html, reportHtml(a.size, rows, runs, timeline), 'HTML report');
    if (a.json) printJson({ size: a.size, rows });
    else if (a.csv) process.stdout.write(toCsv(rows));
    else {
      const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);
      const t: (string | number)[][] = [['machine', 'kernel', 'shape', 'cycles', 'model', 'sim/model', 'MXU', 'VPU', 'top stalls', 'sim == npu']];
      for (const r of rows) {
        t.push([r.machine, r.kernel, JSON.stringify(r.shape), r.cycles, r.model_cycles, r.sim_over_model.toFixed(4), pct(r.mxu_utilization), pct(r.vpu_utilization),
          Object.entries(r.top_stalls).map(([c, v]) => `${c} ${v.toLocaleString('en-US')}`).join(', '), r.sim_equals_npu === null ? '-' : r.sim_equals_npu ? 'yes' : 'NO']);
      }
      process.stdout.write(table(t) + '\n');
    }
    return allExact ? EXIT.ok : EXIT.mismatch;
  }),
};
