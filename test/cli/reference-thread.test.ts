// The reference on a worker thread (cli/reference-thread.ts): its runs equal runLayer's on the calling thread in
// every element of every step, replies are matched to their jobs in any order of asking, and a job the worker cannot
// run is computed on the calling thread (which reports its own error). The worker is a built module: the test loads
// the dist/ build (npm test builds first), as `intnpu layer` does.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { generateLayer } from '../../kernels/ref/generate.js';
import { KernelInputError } from '../../kernels/ref/errors.js';
import { compileLayer, runLayer } from '../../kernels/ref/layer.js';
import { ReferenceThread as SourceThread } from '../../cli/reference-thread.js';

type Mod = typeof import('../../cli/reference-thread.js');
const built = (): Promise<Mod> => import(new URL('../../dist/cli/reference-thread.js', import.meta.url).href) as Promise<Mod>;

describe('reference thread', () => {
  const opts = { seed: 'reference thread', seq: 9, hidden: 48, heads: 3, ffn: 96, maskedTail: 2 };
  const g = generateLayer(opts);
  const c = compileLayer(g.layer);
  const x = Int8Array.from(g.layer.input!.x_int);
  const x2 = x.map((v) => -v);

  it('gives runLayer\'s run, every element, for jobs asked in any order', async () => {
    const { ReferenceThread } = await built();
    const rt = new ReferenceThread();
    expect(rt.threaded).toBe(true);
    const a = rt.submit(c, x, 9, g.mask);
    const b = rt.submit(c, x2, 9);
    const rb = b.get(), ra = a.get();
    expect(isDeepStrictEqual(ra, runLayer(c, x, 9, g.mask))).toBe(true);
    expect(isDeepStrictEqual(rb, runLayer(c, x2, 9))).toBe(true);
    // the two runs differ (the inputs do): equality above is not vacuous
    expect(isDeepStrictEqual(ra.output, rb.output)).toBe(false);
    // a synthetic layer the worker makes (reads from the cache) itself: the same run
    const s = rt.submit(c, x, 9, g.mask, opts);
    expect(isDeepStrictEqual(s.get(), runLayer(c, x, 9, g.mask))).toBe(true);
    expect(s.ready()).toBe(true);
  });

  it('a job the worker cannot run is computed here, with this thread\'s error', async () => {
    const { ReferenceThread } = await built();
    const rt = new ReferenceThread();
    const bad = rt.submit(c, x.subarray(1), 9);
    // (the dist/ build's own KernelInputError class: compared by name)
    expect(bad.get).toThrow(expect.objectContaining({ name: KernelInputError.name, message: 'input: 431 values, expected seq*hidden = 432' }));
    // the worker still answers later jobs
    expect(isDeepStrictEqual(rt.submit(c, x, 9, g.mask).get(), runLayer(c, x, 9, g.mask))).toBe(true);
    // closed, it computes on the calling thread
    rt.close();
    expect(isDeepStrictEqual(rt.submit(c, x2, 9).get(), runLayer(c, x2, 9))).toBe(true);
  });

  it('a worker module that cannot load is given up after the start patience, and the run computed here', async () => {
    const { ReferenceThread } = await built();
    const dir = mkdtempSync(join(os.tmpdir(), 'intnpu-refworker-'));
    const broken = join(dir, 'broken-worker.js');
    writeFileSync(broken, 'export const x = ;\n');
    const rt = new ReferenceThread(true, { url: pathToFileURL(broken), startPatienceMs: 300 });
    expect(rt.threaded).toBe(true);
    // (waiting out a job's two-minute patience instead would fail on the test timeout, 60 s)
    const r = rt.submit(c, x, 9, g.mask);
    expect(isDeepStrictEqual(r.get(), runLayer(c, x, 9, g.mask))).toBe(true);
  });

  it('from the TypeScript sources (no worker module) the reference runs on the calling thread', () => {
    const rt = new SourceThread();
    expect(rt.threaded).toBe(false);
    expect(isDeepStrictEqual(rt.submit(c, x, 9, g.mask).get(), runLayer(c, x, 9, g.mask))).toBe(true);
  });
});
