// A synthetic BERT-base layer at any sequence length on a machine, fused (default) or not: per-step cycles, the
// binding bound, bit-exactness, and the host's peak resident memory (sampled after every kernel). For the long
// shapes that do not belong in the tests (seq 512 on edge), and for before/after rows of the fusions:
//   npm run build && node dist/bench/layer-seq.js --seq 512 --machine edge [--no-fuse] [--json]
import { generateLayer } from '../kernels/ref/generate.js';
import { compileLayerSim, runLayerSim } from '../programs/models/layer.js';
import { loadMachine } from '../sim/config.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const seq = Number(arg('seq', '128'));
const cfg = loadMachine(arg('machine', 'edge'));
const fuse = !argv.includes('--no-fuse');
const g = generateLayer({ seed: arg('seed', 'intnpu-layer'), seq, hidden: 768, heads: 12, ffn: 3072 });
let peak = process.memoryUsage().rss;
const t0 = performance.now();
const r = runLayerSim(compileLayerSim(g.layer), Int8Array.from(g.layer.input!.x_int), seq, cfg, {
  ...(g.mask === undefined ? {} : { mask: g.mask }),
  fuse,
  onStep: () => {
    peak = Math.max(peak, process.memoryUsage().rss);
  },
});
const hostS = (performance.now() - t0) / 1e3;
const out = {
  seq, machine: cfg.name, fuse, total_cycles: r.total_cycles, total_model_cycles: r.total_model_cycles, bounds: r.bounds, bit_exact: r.bit_exact,
  peak_rss_mb: Math.round(peak / 2 ** 20), host_s: Math.round(hostS * 10) / 10,
  steps: r.steps.map((s) => ({ steps: s.steps.length > 1 ? `${s.steps[0]}-${s.steps[s.steps.length - 1]}` : `${s.step}`, name: s.name, kernel: s.kernel, cycles: s.cycles, model_cycles: s.model_cycles, binding: s.bounds.binding, bound: s.bounds[s.bounds.binding], bit_exact: s.identical_to_reference })),
};
if (argv.includes('--json')) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
else {
  for (const s of out.steps) process.stdout.write(`${s.steps.padEnd(6)} ${s.name.padEnd(20)} ${s.kernel.padEnd(15)} ${String(s.cycles).padStart(10)} model ${String(s.model_cycles).padStart(10)}  ${s.binding} ${s.bound}  ${s.bit_exact ? 'bit-exact' : 'DIFFERS'}\n`);
  process.stdout.write(`seq ${seq} on ${cfg.name}${fuse ? '' : ' (unfused)'}: ${r.total_cycles} cycles (model ${r.total_model_cycles}); bounds ${JSON.stringify(r.bounds)}; bit-exact ${r.bit_exact}; peak RSS ${out.peak_rss_mb} MB; host ${out.host_s} s\n`);
}
process.exitCode = r.bit_exact ? 0 : 2;
