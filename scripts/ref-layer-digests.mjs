// Digests of every step tensor of the reference layer (kernels/ref/layer.ts runLayer) on several synthetic layers:
// BERT-base at seq 128 (plain and padded), small and odd shapes, several seeds, and seq 512 with --512. A change
// to the reference that claims to be bit-identical must leave every line unchanged (container type included).
//   npm run build && node scripts/ref-layer-digests.mjs [--512] > before.json   ... change ...   compare
//   node scripts/ref-layer-digests.mjs --time     runLayer cold (this process's first call) and warm, in ms
// Layers come from the synthetic-layer cache in $INTNPU_CACHE_DIR or a folder under the OS temp dir.
import { createHash } from 'node:crypto';
import os from 'node:os';
import { join } from 'node:path';
import { syntheticLayer } from '../dist/cli/layer-cache.js';
import { compileLayer, runLayer, LAYER_STEP_NAMES } from '../dist/kernels/ref/layer.js';

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
  const g = syntheticLayer(opts, dir);
  const x = Int8Array.from(g.layer.input.x_int);
  const times = [];
  for (let i = 0; i < 6; i++) {
    const c = compileLayer(g.layer);
    const t = performance.now();
    runLayer(c, x, opts.seq, g.mask);
    times.push(performance.now() - t);
  }
  const warm = times.slice(1).sort((a, b) => a - b);
  console.log(JSON.stringify({ runLayer_cold_ms: +times[0].toFixed(1), runLayer_warm_median_ms: +warm[warm.length >> 1].toFixed(1) }));
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
