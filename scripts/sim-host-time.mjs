// Host time of the simulator alone inside the BERT-base layer run (seq 128, edge preset, the bench's seed): every
// Simulation is timed from its first step to its result (program build, host writes, comparisons and the reference
// are outside), summed over the layer's programs, run after run in one process (run 0 is cold: JIT warm-up included).
// CPU is the main thread's on-CPU time (Linux /proc/thread-self/schedstat; steadier than wall time on a shared machine,
// and free of the compiler and GC helper threads).
//   npm run build && node scripts/sim-host-time.mjs [dist dir, default ./dist] [runs, default 4]
// To compare two builds of sim/, build each into its own dist and alternate runs of this script on them.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const dist = pathToFileURL(resolve(process.argv[2] ?? 'dist')).href;
const runs = Number(process.argv[3] ?? 4);
const { generateLayer } = await import(`${dist}/kernels/ref/generate.js`);
const { runLayer } = await import(`${dist}/kernels/ref/layer.js`);
const { compileLayerSim, runLayerSim } = await import(`${dist}/programs/models/layer.js`);
const { loadMachine } = await import(`${dist}/sim/config.js`);
const { Simulation } = await import(`${dist}/sim/run.js`);

let cpuOk = true;
const cpuMs = () => {
  if (!cpuOk) return 0;
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    cpuOk = false;
    return 0;
  }
};
const started = new WeakMap();
let wall = 0, cpu = 0, sims = 0;
const { step, result } = Simulation.prototype;
Simulation.prototype.step = function () {
  if (!started.has(this)) started.set(this, [performance.now(), cpuMs()]);
  return step.call(this);
};
Simulation.prototype.result = function () {
  const r = result.call(this);
  const s = started.get(this);
  if (s !== undefined) {
    wall += performance.now() - s[0];
    cpu += cpuMs() - s[1];
    sims++;
    started.delete(this);
  }
  return r;
};

const DIMS = { seq: 128, hidden: 768, heads: 12, ffn: 3072 };
const g = generateLayer({ seed: 'bench layer sim', ...DIMS });
const x = Int8Array.from(g.layer.input.x_int);
const model = compileLayerSim(g.layer);
const reference = runLayer(model.compiled, x, DIMS.seq, g.mask);
const cfg = loadMachine('edge');
for (let i = 0; i < runs; i++) {
  wall = cpu = sims = 0;
  const r = runLayerSim(model, x, DIMS.seq, cfg, { reference, ...(g.mask === undefined ? {} : { mask: g.mask }) });
  const c = cpuOk ? `, main-thread CPU ${cpu.toFixed(0)} ms` : '';
  console.log(`run ${i}${i === 0 ? ' (cold)' : ''}: simulation ${wall.toFixed(0)} ms wall${c} over ${sims} programs; ${r.total_cycles} cycles, bit-exact ${r.bit_exact}`);
}
