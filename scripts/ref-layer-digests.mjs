// Digests of every step tensor of the reference layer (kernels/ref/layer.ts runLayer) on several synthetic layers:
// BERT-base at seq 128 (plain and padded), small and odd shapes, several seeds, and seq 512 with --512. A change
// to the reference that claims to be bit-identical must leave every line unchanged (container type included).
//   npm run build && node scripts/ref-layer-digests.mjs [--512] > before.json   ... change ...   compare
//   node scripts/ref-layer-digests.mjs --time     one process: cached-layer load, compileLayer and runLayer cold (this
//                                                 process's first call), then runLayer warm (median of 5), in ms
//   --dist DIR   use another build (e.g. an older commit's dist/) to compare side by side
// Layers come from the synthetic-layer cache in $INTNPU_CACHE_DIR or a folder under the OS temp dir.
import { createHash } from 'node:crypto';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const di = process.argv.indexOf('--dist');
const dist = di > 0 ? resolve(process.argv[di + 1]) : resolve(import.meta.dirname, '../dist');
const { syntheticLayer } = await import(pathToFileURL(join(dist, 'cli/layer-cache.js')).href);
const { compileLayer, runLayer, LAYER_STEP_NAMES } = await import(pathToFileURL(join(dist, 'kernels/ref/layer.js')).href);

const dir = process.env.INTNPU_CACHE_DIR || join(os.tmpdir(), 'intnpu-ref-digests');
const BASE = { hidden: 768, heads: 12, ffn: 3072 };
const cases = [
  ['base128', { seed: 'intnpu-layer', seq: 128, ...BASE }],
  ['base128-pad', { seed: 'intnpu-layer', seq: 128, ...BASE, maskedTail: 37 }],
  ['small', { seed: 'intnpu-layer', seq: 8, hidden: 64, heads: 2, ffn: 256 }],
  ['small-s2', { seed: 's2', seq: 8, hidden: 64, heads: 2, ffn: 256 }],
  ['small-pad', { seed: 's3', seq: 16, hidden: 64, heads: 2, ffn: 256, maskedTail: 5 }],
  ['mid-s4', { seed: 's4', seq: 33, hidden: 96, heads: 3, ffn: 384, lnShift: 0 }],
  ['mid-s5', { seed: 's5', seq: 20, hidden: 128, heads: 4, ffn: 512, negativeGammaFraction: 0.3 }],
  ['base64-s6', { seed: 's6', seq: 64, ...BASE }],
];
if (process.argv.includes('--512')) cases.push(['base512', { seed: 'intnpu-layer', seq: 512, ...BASE }]);

const digest = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(ArrayBuffer.isView(p) ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : String(p));
  return h.digest('hex').slice(0, 16);
};

if (process.argv.includes('--time')) {
  const [, opts] = cases[0];
  syntheticLayer(opts, dir); // make sure it is cached, then time a fresh process's work on it
  const { execFileSync } = await import('node:child_process');
  const child = `
    const { syntheticLayer } = await import(${JSON.stringify(pathToFileURL(join(dist, 'cli/layer-cache.js')).href)});
    const { compileLayer, runLayer } = await import(${JSON.stringify(pathToFileURL(join(dist, 'kernels/ref/layer.js')).href)});
    const opts = ${JSON.stringify(opts)};
    let t = performance.now();
    const g = syntheticLayer(opts, ${JSON.stringify(dir)});
    const load = performance.now() - t;
    t = performance.now();
    let c = compileLayer(g.layer);
    const compile = performance.now() - t;
    const x = Int8Array.from(g.layer.input.x_int);
    const runs = [];
    for (let i = 0; i < 6; i++) {
      t = performance.now();
      runLayer(c, x, opts.seq, g.mask);
      runs.push(performance.now() - t);
    }
    const warm = runs.slice(1).sort((a, b) => a - b);
    const r = (v) => Math.round(v * 10) / 10;
    console.log(JSON.stringify({ load_ms: r(load), compile_ms: r(compile), runLayer_cold_ms: r(runs[0]), runLayer_warm_median_ms: r(warm[2]) }));`;
  process.stdout.write(execFileSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8' }));
} else {
  const out = {};
  for (const [name, opts] of cases) {
    const g = syntheticLayer(opts, dir);
    const r = runLayer(compileLayer(g.layer), Int8Array.from(g.layer.input.x_int), opts.seq, g.mask);
    const rec = { layer: digest(JSON.stringify(g.layer, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v))) };
    for (const s of LAYER_STEP_NAMES) {
      const st = r.steps[s];
      rec[s] = `${digest(st.data.constructor.name, st.data)} [${st.shape.join(',')}] ${digest(JSON.stringify(st.scale))}`;
    }
    rec.output = digest(r.output);
    out[name] = rec;
  }
  console.log(JSON.stringify(out, null, 1));
}
