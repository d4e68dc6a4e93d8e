// Build + assembly time of the layer's layernorm, softmax and qk-softmax programs (BERT-base shapes on edge), cold
// (the first build in the process) and warm (median of repeats): `npm run build && node dist/bench/builder-time.js`.
// The programs are what `intnpu layer --size base` builds (seq 128) and its seq-512 variant.
import { buildLayerNorm } from '../programs/layernorm/build.js';
import { layernormPlan } from '../programs/layernorm/model.js';
import { buildSoftmax } from '../programs/softmax/build.js';
import { buildQkSoftmax } from '../programs/qk-softmax/build.js';
import { parseSoftmaxCase } from '../kernels/npu/softmax.js';
import { assembleBuilt } from '../programs/index.js';
import type { BuiltProgram } from '../programs/linear/build.js';
import { loadMachine } from '../sim/config.js';

const edge = loadMachine('edge');
const c = parseSoftmaxCase({ x_int: [0], scale_in: 2e-4 }).consts;
const seqs = (process.argv[2] ?? '128,512').split(',').map(Number);
const reps = Number(process.argv[3] ?? 5);
const jobs: Array<[string, () => BuiltProgram]> = [];
for (const T of seqs) {
  jobs.push([`layernorm ${T}x768`, () => buildLayerNorm(layernormPlan(T, 768, edge), 3, edge)]);
  jobs.push([`qk-softmax T${T} h12 u8`, () => buildQkSoftmax({ T, hidden: 768, heads: 12, mask: 'none', probsU8: true }, c, edge)]);
  jobs.push([`qk-softmax T${T} h12 u8 masked`, () => buildQkSoftmax({ T, hidden: 768, heads: 12, mask: 'position', probsU8: true }, c, edge)]);
  jobs.push([`softmax ${12 * T}x${T} masked`, () => buildSoftmax({ rows: 12 * T, rowLen: T, consts: c, mask: 'position' }, edge)]);
}
const rows: Array<Record<string, string | number>> = [];
for (const [name, build] of jobs) {
  const times: number[] = [];
  let instrs = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const p = assembleBuilt(build(), edge);
    times.push(performance.now() - t0);
    instrs = p.words.length / 2;
  }
  const warm = times.slice(1).sort((a, b) => a - b);
  rows.push({ program: name, instructions: instrs, cold_ms: Number(times[0]!.toFixed(1)), warm_median_ms: Number((warm[warm.length >> 1] ?? times[0]!).toFixed(1)) });
}
process.stdout.write(JSON.stringify(rows, null, 1) + '\n');
