// `intnpu sweep`: evaluate a workload over the cross product of machine fields, in parallel worker threads,
// one row per point to CSV or JSON lines, sharded and resumable. The output file is rewritten sorted by point
// at the end, so the same grid gives the same file whatever --jobs and whatever order the points finished in.
import { appendFileSync, existsSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadMachine, PRESETS, type MachineInput } from '../../sim/config.js';
import { readJson, UsageError } from '../common.js';
import { writeOutputFile } from '../files.js';
import { csvLine, parseCsvLine, typedCell } from '../csv.js';
import { Progress } from '../progress.js';
import { gridPoints, parseGrid, parseShard, pointMachine, shardPoints, type GridField } from './grid.js';
import { runPool, type PointReply } from './pool.js';
import { describeWorkload, parseWorkload, type WorkloadOptions, type WorkloadSpec } from './workloads.js';

export const FIGURE_COLUMNS = ['cycles', 'latency_us', 'mxu_utilization', 'vpu_utilization', 'dram_bytes', 'energy_uj', 'bound', 'bound_share', 'bit_exact', 'error'] as const;

export type Row = Record<string, string | number | boolean | null>;

export interface SweepArgs extends WorkloadOptions {
  readonly workload: string;
  readonly machine: string;
  readonly grid?: readonly string[] | undefined;
  readonly out: string;
  readonly jobs?: number | undefined;
  readonly shard?: string | undefined;
  readonly json?: boolean | undefined;
}

export interface SweepResult {
  readonly workload: WorkloadSpec;
  readonly description: string;
  readonly base: string;
  readonly fields: readonly GridField[];
  /** every row in the output file after the run (resumed and new), sorted by point */
  readonly rows: readonly Row[];
  readonly ran: number;
  readonly skipped: number;
  readonly failed: number;
  readonly total_points: number;
  readonly shard: string;
  readonly jobs: number;
  readonly wall_ms: number;
}

/** The base machine as a description (input form) the grid values are set into. */
function baseInput(spec: string): MachineInput {
  loadMachine(spec); // validates (and names the bad field) before anything runs
  const preset = PRESETS[spec];
  if (preset) return preset;
  const json = readJson(spec) as Record<string, unknown>;
  if ('preset' in json) {
    const { preset: p, ...rest } = json;
    return { ...(rest as MachineInput), ...({ preset: p } as object) } as MachineInput;
  }
  return json as MachineInput;
}

function columnsOf(fields: readonly GridField[]): string[] {
  return ['point', ...fields.map((f) => f.path), ...FIGURE_COLUMNS];
}

const isJsonl = (out: string): boolean => out.endsWith('.jsonl');

/** Rows already in the output file (resume), after checking they belong to this grid. */
function readExisting(out: string, cols: readonly string[], fields: readonly GridField[], total: number): Row[] {
  if (!existsSync(out)) return [];
  let text = readFileSync(out, 'utf8');
  if (text.length > 0 && !text.endsWith('\n')) {
    // a sweep killed while writing: drop the partial last line
    const cut = text.lastIndexOf('\n') + 1;
    truncateSync(out, Buffer.byteLength(text.slice(0, cut)));
    text = text.slice(0, cut);
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  let rows: Row[];
  if (isJsonl(out)) {
    rows = lines.map((l, i) => {
      try {
        return JSON.parse(l) as Row;
      } catch {
        throw new UsageError(`--out ${out}: line ${i + 1} is not JSON; not a sweep output (choose another --out)`);
      }
    });
    for (const r of rows) {
      const keys = Object.keys(r);
      if (keys.length !== cols.length || keys.some((k, i) => k !== cols[i])) {
        throw new UsageError(`--out ${out}: its rows have the fields ${keys.join(', ')}, this sweep writes ${cols.join(', ')}: a different grid (choose another --out)`);
      }
    }
  } else {
    const header = parseCsvLine(lines[0]!);
    if (header.length !== cols.length || header.some((h, i) => h !== cols[i])) {
      throw new UsageError(`--out ${out}: its columns are ${header.join(', ')}, this sweep writes ${cols.join(', ')}: a different grid (choose another --out)`);
    }
    rows = lines.slice(1).map((l) => {
      const cells = parseCsvLine(l);
      return Object.fromEntries(cols.map((c, i) => [c, typedCell(cells[i] ?? '')]));
    });
  }
  const points = gridPoints(fields);
  for (const r of rows) {
    const p = r['point'];
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p >= total) throw new UsageError(`--out ${out}: point ${String(p)} is not a point of this grid (0..${total - 1}); choose another --out`);
    fields.forEach((f, i) => {
      if (String(r[f.path]) !== String(points[p]!.values[i])) {
        throw new UsageError(`--out ${out}: point ${p} has ${f.path}=${String(r[f.path])} there, ${String(points[p]!.values[i])} in this grid: a different grid (choose another --out)`);
      }
    });
  }
  return rows;
}

function serialize(out: string, cols: readonly string[], row: Row): string {
  if (isJsonl(out)) return JSON.stringify(Object.fromEntries(cols.map((c) => [c, row[c] ?? null]))) + '\n';
  return csvLine(cols.map((c) => row[c])) + '\n';
}

function rowOf(index: number, fields: readonly GridField[], values: readonly (string | number | boolean)[], reply: PointReply): Row {
  const row: Row = { point: index };
  fields.forEach((f, i) => (row[f.path] = values[i]!));
  for (const c of FIGURE_COLUMNS) row[c] = null;
  if (reply.error !== undefined) row['error'] = reply.error;
  else Object.assign(row, reply.figures);
  return row;
}

export async function runSweep(a: SweepArgs): Promise<SweepResult> {
  for (const k of ['workload', 'machine', 'out', 'shard', 'jobs', 'seq', 'layers', 'size', 'seed'] as const) {
    if (Array.isArray(a[k])) throw new UsageError(`--${k} given more than once`);
  }
  const workload = parseWorkload(a.workload, a);
  const fields = parseGrid(a.grid);
  const shard = parseShard(a.shard);
  if (!a.out.endsWith('.csv') && !a.out.endsWith('.jsonl')) throw new UsageError(`--out ${a.out}: must end in .csv or .jsonl`);
  const jobs = a.jobs ?? availableParallelism();
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 256) throw new UsageError(`--jobs ${String(a.jobs)}: must be an integer in 1..256`);
  const base = baseInput(a.machine);
  const all = gridPoints(fields);
  const mine = shardPoints(all, shard);
  const cols = columnsOf(fields);
  const existing = readExisting(a.out, cols, fields, all.length);
  const done = new Set(existing.map((r) => r['point'] as number));
  const todo = mine.filter((p) => !done.has(p.index));
  if (existing.length === 0) writeOutputFile(a.out, isJsonl(a.out) ? '' : csvLine(cols) + '\n', 'sweep output');

  const t0 = performance.now();
  const progress = new Progress(`sweep ${describeWorkload(workload)}`, todo.length, a.json);
  const rows: Row[] = [...existing];
  let failed = 0;
  if (todo.length > 0) progress.begin(`${todo.length} point(s) on ${Math.min(jobs, todo.length)} worker thread(s)`);
  const byIndex = new Map(todo.map((p) => [p.index, p]));
  await runPool(workload, todo.map((p) => ({ index: p.index, machine: pointMachine(base, fields, p.values) })), jobs, (reply) => {
    const p = byIndex.get(reply.index)!;
    const row = rowOf(p.index, fields, p.values, reply);
    if (reply.error !== undefined) failed++;
    rows.push(row);
    appendFileSync(a.out, serialize(a.out, cols, row));
    progress.tick(`point ${p.index} (${fields.map((f, i) => `${f.path}=${String(p.values[i])}`).join(' ')})${reply.error !== undefined ? ' FAILED' : ' done'}`);
  });
  progress.end();
  rows.sort((x, y) => (x['point'] as number) - (y['point'] as number));
  const tmp = `${a.out}.tmp-${process.pid}`;
  writeFileSync(tmp, (isJsonl(a.out) ? '' : csvLine(cols) + '\n') + rows.map((r) => serialize(a.out, cols, r)).join(''));
  renameSync(tmp, a.out);
  return {
    workload, description: describeWorkload(workload), base: a.machine, fields, rows, ran: todo.length, skipped: mine.length - todo.length, failed,
    total_points: all.length, shard: `${shard.i}/${shard.n}`, jobs, wall_ms: performance.now() - t0,
  };
}
