// `intnpu sweep`: a design-space sweep of one workload over machine fields (cli/sweep/*), with an HTML report.
import type { CommandModule } from 'yargs';
import { EXIT, handler, printJson } from '../common.js';
import { writeOutputFile } from '../files.js';
import { sweepHtml } from '../html/sweep.js';
import { runSweep } from '../sweep/sweep.js';

interface Args {
  workload: string;
  machine: string;
  grid?: string[] | undefined;
  out: string;
  jobs?: number | undefined;
  shard?: string | undefined;
  html?: string | undefined;
  seq?: number | undefined;
  layers?: number | undefined;
  size?: string | undefined;
  seed?: string | undefined;
  set?: string[] | undefined;
  param?: string[] | undefined;
  json?: boolean | undefined;
}

export const sweepCommand: CommandModule<object, Args> = {
  command: 'sweep',
  describe: 'Design-space sweep: a workload over the cross product of machine fields, one CSV/JSONL row per point, in parallel, sharded, resumable',
  builder: (y) =>
    y
      .option('workload', { alias: 'w', type: 'string', demandOption: true, describe: 'layer:small, layer:base (with --seq), linear:MxKxN, kernel:NAME, model:config.json (with --seq, --layers), program:file.s (with --set)' })
      .option('machine', { alias: 'm', type: 'string', default: 'edge', describe: 'base machine: preset (edge, server) or machine JSON file' })
      .option('grid', { alias: 'g', type: 'string', array: true, describe: 'FIELD=v1,v2,...: a machine-config path and its values (repeat; the grid is the cross product)' })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'F.csv or F.jsonl; rerunning with the same file skips the points already in it' })
      .option('jobs', { alias: 'j', type: 'number', describe: 'worker threads (default: the number of cores)' })
      .option('shard', { type: 'string', describe: 'i/n: run every n-th point starting at point i-1 (shards concatenate to the whole grid)' })
      .option('html', { type: 'string', describe: 'also write a self-contained HTML report (latency vs each field, Pareto front)' })
      .option('seq', { type: 'number', describe: 'sequence length of layer:small / layer:base / model:' })
      .option('layers', { type: 'number', describe: 'model: only: run the first N layers (default: all)' })
      .option('size', { type: 'string', describe: 'example size of kernel:NAME (small or base; default base)' })
      .option('seed', { type: 'string', describe: 'seed of the synthetic inputs (default intnpu-sweep)' })
      .option('set', { type: 'string', array: true, describe: 'program:file.s only: BUFFER=tensor file, as in run' })
      .option('param', { type: 'string', array: true, describe: 'program:file.s only: NAME=value for a .param' })
      .option('json', { type: 'boolean', describe: 'print the summary as JSON (and no progress)' }),
  handler: handler(async (a: Args) => {
    const r = await runSweep(a);
    if (a.html) writeOutputFile(a.html, sweepHtml(r), 'HTML report');
    const summary = {
      workload: r.description, machine: r.base, fields: r.fields.map((f) => ({ path: f.path, values: f.values })), points: r.total_points, shard: r.shard,
      ran: r.ran, skipped: r.skipped, failed: r.failed, not_bit_exact: r.rows.filter((x) => x['bit_exact'] === false).length, rows_in_file: r.rows.length, jobs: r.jobs, wall_s: r.wall_ms / 1e3, out: a.out, html: a.html ?? null,
    };
    if (a.json) printJson(summary);
    else {
      process.stdout.write(`sweep ${r.description} on ${r.base}: ${r.fields.map((f) => `${f.path} in {${f.values.join(', ')}}`).join(' x ')} = ${r.total_points} points` +
        (r.shard !== '1/1' ? `, shard ${r.shard}` : '') + '\n');
      process.stdout.write(`ran ${r.ran} point(s) on ${r.jobs} worker thread(s) in ${(r.wall_ms / 1e3).toFixed(2)} s` +
        (r.skipped ? `; skipped ${r.skipped} already in ${a.out}` : '') + (r.failed ? `; ${r.failed} failed (their rows hold the error)` : '') + '\n');
      process.stdout.write(`wrote ${r.rows.length} row(s) to ${a.out}${a.html ? `, report ${a.html}` : ''}\n`);
    }
    // a point that cannot run on its machine is a result (its row says why); a wrong output or a crash is not
    const mismatched = r.rows.filter((x) => x['bit_exact'] === false).map((x) => x['point']);
    const internal = r.rows.filter((x) => typeof x['error'] === 'string' && x['error'].startsWith('internal')).map((x) => x['point']);
    if (mismatched.length) process.stderr.write(`NOT bit-exact at point(s) ${mismatched.join(', ')}\n`);
    if (internal.length) process.stderr.write(`internal error at point(s) ${internal.join(', ')} (see their rows; INTNPU_DEBUG=1 does not apply to workers)\n`);
    return internal.length ? EXIT.internal : mismatched.length ? EXIT.mismatch : EXIT.ok;
  }),
};
