// The architect's workbench through the built CLI (npm run build first): `intnpu sweep` (rows and columns, more
// DRAM bandwidth never slower, shards that concatenate to the whole grid, resume, a failing point as a row, bad
// input with exit 1 naming the field or argument); `--csv` on layer and report with the JSON's columns; progress
// only on a TTY; and the HTML reports of layer, report, model and sweep rendered in a real headless Chromium.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, show, type Run } from './spawn.js';
import { parseCsvLine } from '../../cli/csv.js';
import { Progress } from '../../cli/progress.js';
import type { SweepArgs, SweepResult } from '../../cli/sweep/sweep.js';
import { checkPage, launch } from './browser.js';
import { generateLayer } from '../../kernels/ref/generate.js';
import { compileLayerSim, runLayerSim } from '../../programs/models/layer.js';
import { MachineSchema } from '../../sim/config.js';
import type { BrowserContext } from 'playwright-core';

let dir = '';

const cli = (...args: string[]): Run => runCli(args, dir, 60_000);

const WORKLOAD = ['--workload', 'linear:16x64x32'];
const GRID = ['--grid', 'mxu.rows=8,16', '--grid', 'dram.bytesPerCycle=2,4,8,16'];

function csvRows(path: string): { header: string[]; rows: string[][]; lines: string[] } {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
  return { header: parseCsvLine(lines[0]!), rows: lines.slice(1).map(parseCsvLine), lines: lines.slice(1) };
}

// The sweep's worker threads run dist/cli/sweep/worker.js, so in-process sweeps use the built module too
// (it spares a node start per case; the exit codes are checked through the CLI).
let runSweep: (a: SweepArgs) => Promise<SweepResult>;
const sweep = (a: Partial<SweepArgs>): Promise<SweepResult> =>
  runSweep({ workload: 'linear:16x64x32', machine: 'edge', grid: GRID.filter((_, i) => i % 2 === 1), jobs: 1, json: true, ...a, out: sweepOut(a.out) });
const sweepOut = (out: string | undefined): string => join(dir, out ?? 'x.csv');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'intnpu-sweep-'));
  ({ runSweep } = (await import(join(ROOT, 'dist/cli/sweep/sweep.js'))) as { runSweep: typeof runSweep });
  void sweepOut;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('intnpu sweep', () => {
  let whole: ReturnType<typeof csvRows>;

  it('writes one row per point with the grid fields and the figures; more DRAM bandwidth is never slower', () => {
    const r = cli('sweep', ...WORKLOAD, ...GRID, '--out', 'whole.csv', '--jobs', '2', '--html', 'sweep.html');
    expect(r.status, show(r)).toBe(0);
    expect(r.stderr, 'no progress when stderr is not a terminal').toBe('');
    whole = csvRows(join(dir, 'whole.csv'));
    expect(whole.header.slice(0, 3)).toEqual(['point', 'mxu.rows', 'dram.bytesPerCycle']);
    for (const c of ['cycles', 'latency_us', 'mxu_utilization', 'vpu_utilization', 'dram_bytes', 'energy_uj', 'bound', 'bit_exact', 'error']) expect(whole.header).toContain(c);
    expect(whole.rows).toHaveLength(8);
    const col = (name: string): number => whole.header.indexOf(name);
    // cross product, first field slowest, sorted by point
    expect(whole.rows.map((row) => `${row[0]}:${row[1]}:${row[2]}`)).toEqual(['0:8:2', '1:8:4', '2:8:8', '3:8:16', '4:16:2', '5:16:4', '6:16:8', '7:16:16']);
    for (const row of whole.rows) {
      expect(row[col('error')], row.join(',')).toBe('');
      expect(row[col('bit_exact')]).toBe('true');
      expect(Number(row[col('latency_us')])).toBeCloseTo(Number(row[col('cycles')]) / 1000, 9); // edge: 1 GHz
      expect(Number(row[col('dram_bytes')])).toBeGreaterThan(0);
      expect(Number(row[col('energy_uj')])).toBeGreaterThan(0);
      expect(['mxu', 'vpu', 'dram', 'scalar', 'divider']).toContain(row[col('bound')]);
    }
    for (const rows of [whole.rows.slice(0, 4), whole.rows.slice(4)]) {
      const cycles = rows.map((row) => Number(row[col('cycles')]));
      for (let i = 1; i < cycles.length; i++) expect(cycles[i], `bandwidth ${rows[i]![2]} vs ${rows[i - 1]![2]}`).toBeLessThanOrEqual(cycles[i - 1]!);
      expect(cycles[3]).toBeLessThan(cycles[0]!); // 8x the bandwidth on a DRAM-heavy shape does help
    }
  });

  it('--shard 1/2 and 2/2 together are the whole grid; rerunning skips the points already written', async () => {
    for (const s of ['1/2', '2/2']) await sweep({ out: `s${s[0]}.csv`, shard: s });
    const a = csvRows(join(dir, 's1.csv')), b = csvRows(join(dir, 's2.csv'));
    expect(a.header).toEqual(whole.header);
    expect(a.rows.map((r) => r[0])).toEqual(['0', '2', '4', '6']);
    expect([...a.lines, ...b.lines].sort()).toEqual([...whole.lines].sort());
    // resume: keep the header and 2 rows (and a torn last line), rerun: only the 2 missing points of the shard run
    const text = readFileSync(join(dir, 's1.csv'), 'utf8').split('\n');
    writeFileSync(join(dir, 's1.csv'), text.slice(0, 3).join('\n') + '\n4,16,2,12');
    const j = await sweep({ out: 's1.csv', shard: '1/2' });
    expect([j.ran, j.skipped, j.rows.length]).toEqual([2, 2, 4]);
    expect(csvRows(join(dir, 's1.csv')).lines).toEqual(a.lines);
    // a file of another grid is refused, naming the difference
    await expect(sweep({ grid: ['mxu.rows=8,32'], out: 'whole.csv' })).rejects.toThrow(/different grid/);
  });

  it('a point that cannot run is a row with its error, and the sweep goes on (JSON lines)', async () => {
    const r = await sweep({ grid: ['spad.sizeBytes=256,262144'], out: 'fail.jsonl' });
    expect([r.ran, r.failed]).toEqual([2, 1]);
    const rows = readFileSync(join(dir, 'fail.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(2);
    expect(rows[0]!['spad.sizeBytes']).toBe(256);
    expect(String(rows[0]!['error'])).toMatch(/does not tile|spad/);
    expect(rows[0]!['cycles']).toBeNull();
    expect(rows[1]!['error']).toBeNull();
    expect(rows[1]!['bit_exact']).toBe(true);
  });

  it('program:file.s with --set and --param: figures without a reference (bit_exact empty)', async () => {
    writeFileSync(join(dir, 'a.json'), JSON.stringify(Array.from({ length: 64 }, (_, i) => (i % 7) - 3)));
    writeFileSync(join(dir, 'b.json'), JSON.stringify(Array.from({ length: 64 }, (_, i) => (i % 5) - 2)));
    const r = await sweep({ workload: `program:${join(ROOT, 'examples/dot.s')}`, set: [`a=${join(dir, 'a.json')}`, `b=${join(dir, 'b.json')}`], param: ['N=64'], grid: ['dram.latencyCycles=10,200'], out: 'prog.jsonl' });
    expect(r.failed).toBe(0);
    expect(r.rows.map((x) => x['bit_exact'])).toEqual([null, null]);
    const cyc = r.rows.map((x) => Number(x['cycles']));
    expect(cyc[1]! - cyc[0]!).toBeGreaterThanOrEqual(190); // at least the first load and the last store wait the added latency
  });

  it.each([
    ['an unknown field', ['--grid', 'mxu.rowz=8,16'], /mxu\.rowz/],
    ['shard 3/2', ['--grid', 'mxu.rows=8', '--shard', '3/2'], /--shard 3\/2/],
  ])('bad input through the CLI: %s -> exit 1 naming it, no stack trace', (_what, args, msg) => {
    const r = cli('sweep', ...WORKLOAD, ...args, '--out', 'bad.csv');
    expect(r.status, show(r)).toBe(1);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    ['an unknown field', { grid: ['mxu.rowz=8,16'] }, /unknown machine field 'mxu\.rowz' \(fields of mxu: rows, cols\)/],
    ['an unknown group', { grid: ['mx.rows=8'] }, /unknown machine field 'mx'/],
    ['a value the schema rejects', { grid: ['mxu.rows=0,16'] }, /--grid mxu\.rows: value 0 rejected by the machine schema at mxu\.rows/],
    ['a refinement the schema rejects', { grid: ['acc.sizeBytes=258'] }, /acc\.sizeBytes.*multiple of 4/],
    ['a non-numeric value', { grid: ['dram.bytesPerCycle=fast'] }, /dram\.bytesPerCycle: value 'fast' is not a number/],
    ['a non-boolean value', { grid: ['divider.present=yes'] }, /divider\.present: value 'yes' is not a boolean/],
    ['a group instead of a field', { grid: ['mxu=8'] }, /'mxu' is a group/],
    ['no --grid', { grid: [] }, /--grid: empty grid/],
    ['a field with no values', { grid: ['mxu.rows='] }, /--grid mxu\.rows: empty grid/],
    ['shard 3/2', { shard: '3/2' }, /--shard 3\/2: shard index 3 is outside 1\.\.2/],
    ['shard 0/2', { shard: '0/2' }, /--shard 0\/2/],
    ['shard 1-2', { shard: '1-2' }, /--shard 1-2: expected i\/n/],
    ['an unknown workload', { workload: 'conv:3x3' }, /--workload conv:3x3: unknown workload kind 'conv'/],
    ['an unknown kernel', { workload: 'kernel:nope' }, /unknown kernel 'nope'/],
    ['a bad linear shape', { workload: 'linear:16x0x4' }, /--workload linear:16x0x4/],
    ['an output that is neither .csv nor .jsonl', { out: 'x.txt' }, /--out .*x\.txt: must end in \.csv or \.jsonl/],
  ] as const)('bad input: %s -> a usage error (exit 1) naming it', async (_what, args, msg) => {
    await expect(sweep(args as Partial<SweepArgs>)).rejects.toMatchObject({ exitCode: 1, message: expect.stringMatching(msg) });
  });
});

describe('--csv on layer and report', () => {
  it('layer --csv has the columns of the JSON steps, one row per step', () => {
    // the JSON's steps are the runner's steps plus their share of the layer (cli/commands/layer.ts summary)
    const g = generateLayer({ seed: 'intnpu-layer', seq: 8, hidden: 64, heads: 2, ffn: 256 });
    const r = runLayerSim(compileLayerSim(g.layer), Int8Array.from(g.layer.input!.x_int), 8, MachineSchema.parse({}), g.mask ? { mask: g.mask } : {});
    // every key any step has, in order of first appearance (a step may carry a `note`)
    const keys = [...new Set(r.steps.flatMap((s) => [...Object.keys(s), 'share']))];
    const c = cli('layer', '--size', 'small', '--csv', '--html', 'layer.html');
    expect(c.status, show(c)).toBe(0);
    expect(c.stderr).toBe('');
    const lines = c.stdout.trim().split('\n');
    expect(parseCsvLine(lines[0]!)).toEqual(keys);
    expect(lines).toHaveLength(r.steps.length + 1);
    r.steps.forEach((s, i) => expect(parseCsvLine(lines[i + 1]!)[keys.indexOf('cycles')]).toBe(String(s.cycles)));
  });

  it('model --csv: layer, then the columns of the JSON layers[].steps[]; sweep takes model:config.json', async () => {
    const conf = join(dir, 'tiny.json');
    writeFileSync(conf, JSON.stringify({
      model_type: 'ibert', hidden_size: 64, num_attention_heads: 2, intermediate_size: 128, num_hidden_layers: 2,
      vocab_size: 40, max_position_embeddings: 16, type_vocab_size: 1, pad_token_id: 1, hidden_act: 'gelu',
    }));
    const g = generateLayer({ seed: 'intnpu-layer', seq: 8, hidden: 64, heads: 2, ffn: 256 });
    const keys = [...new Set(runLayerSim(compileLayerSim(g.layer), Int8Array.from(g.layer.input!.x_int), 8, MachineSchema.parse({})).steps.flatMap((s) => Object.keys(s)))];
    const c = cli('model', '--config', conf, '--seq', '4', '--csv', '--html', 'model.html');
    expect(c.status, show(c)).toBe(0);
    const lines = c.stdout.trim().split('\n');
    expect(parseCsvLine(lines[0]!)).toEqual(['layer', ...keys]);
    // one row per kernel run of each layer (how many depends on which kernels the schedule fuses at this shape)
    const layerCol = lines.slice(1).map((l) => l.split(',')[0]);
    const perLayer = layerCol.filter((v) => v === '0').length;
    expect(perLayer).toBeGreaterThan(0);
    expect(layerCol).toEqual([...Array(perLayer).fill('0'), ...Array(perLayer).fill('1')]);
    const r = await sweep({ workload: `model:${conf}`, seq: 4, layers: 1, grid: ['vpu.lanes=8,32'], out: 'model.csv' });
    expect(r.failed).toBe(0);
    expect(r.rows.map((x) => x['bit_exact'])).toEqual([true, true]);
    expect(Number(r.rows[1]!['cycles'])).toBeLessThan(Number(r.rows[0]!['cycles'])); // 4x the lanes on a VPU-heavy tiny model
  });

  it('report --csv has the columns of the JSON rows', () => {
    const j = cli('report', '--size', 'small', '--kernel', 'linear', '--machine', 'edge', '--machine', 'server', '--json', '--html', 'report.html');
    expect(j.status, show(j)).toBe(0);
    const rows = (JSON.parse(j.stdout) as { rows: Record<string, unknown>[] }).rows;
    const c = cli('report', '--size', 'small', '--kernel', 'linear', '--csv');
    expect(c.status, show(c)).toBe(0);
    const lines = c.stdout.trim().split('\n');
    expect(parseCsvLine(lines[0]!)).toEqual(Object.keys(rows[0]!));
    expect(lines).toHaveLength(rows.length + 1);
  });
});

describe('progress', () => {
  const fake = (tty: boolean): { stream: NodeJS.WriteStream; text: () => string } => {
    let out = '';
    const stream = { isTTY: tty, columns: 200, write: (s: string) => ((out += s), true) } as unknown as NodeJS.WriteStream;
    return { stream, text: () => out };
  };

  it('on a terminal: count, elapsed and an estimate; then the line is cleared', () => {
    const f = fake(true);
    const p = new Progress('sweep', 4, false, {}, f.stream);
    p.tick('point 0 done');
    expect(f.text()).toMatch(/sweep: 1\/4, point 0 done \| \d+\.\d s elapsed, ~\d+\.\d s left/);
    p.begin('point 1');
    expect(f.text()).toMatch(/sweep: 1\/4, running point 1 \| /);
    p.end();
    expect(f.text().endsWith('\r\x1b[K')).toBe(true);
  });

  it('nothing when not a terminal, or with --json', () => {
    for (const [tty, json] of [[false, false], [true, true]] as const) {
      const f = fake(tty);
      const p = new Progress('layer', 3, json, {}, f.stream);
      p.tick('step 1');
      p.end();
      expect(f.text()).toBe('');
    }
  });
});

describe('HTML reports in headless Chromium', () => {
  let browser: BrowserContext;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => browser?.close());

  // written by the tests above: layer --html, report --html, sweep --html
  it.each([
    ['layer.html', ['roofline', 'latency-by-bound', 'stalls', 'timeline'], /intnpu layer/],
    ['report.html', ['roofline', 'latency-by-bound', 'stalls', 'timeline'], /intnpu report/],
    ['model.html', ['roofline', 'latency-by-bound', 'stalls', 'timeline'], /intnpu model/],
    ['sweep.html', ['latency-vs-0', 'latency-vs-1', 'pareto'], /intnpu sweep: linear 16x64x32/],
  ])('%s loads offline without console errors or requests, and every chart has drawn marks', async (file, charts, title) => {
    const html = readFileSync(join(dir, file), 'utf8');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/); // nothing to fetch
    {
      const r = await checkPage(browser, join(dir, file), process.env['INTNPU_SCREENSHOTS'] ? join(process.env['INTNPU_SCREENSHOTS'], file.replace('.html', '.png')) : undefined);
      expect(r.problems).toEqual([]);
      expect(r.title).toMatch(title);
      expect(Object.keys(r.marks)).toEqual(charts);
      for (const c of charts) expect(r.marks[c], `marks in ${c}`).toBeGreaterThan(0);
      if (file === 'sweep.html') expect(r.marks['pareto']).toBe(8);
      if (charts.includes('timeline')) {
        // zoom in: half the range around the middle, still drawn
        const span = (s: string): number => { const [a, b] = s.split('-').map((x) => Number(x.replace(/,/g, ''))); return b! - a!; };
        expect(r.zoom, 'timeline range').not.toBeNull();
        expect(span(r.zoom!.before)).toBeGreaterThan(0);
        expect(span(r.zoom!.after)).toBeCloseTo(span(r.zoom!.before) / 2, -1);
        expect(r.zoom!.marks).toBeGreaterThan(0);
      }
    }
  });
});
