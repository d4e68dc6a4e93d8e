// Hashes (sha256) the instruction words and buffers of many builds of the layernorm, softmax and qk-softmax
// programs, one line per build: `node dist/bench/builder-hashes.js > before.txt`, change a builder, run again,
// diff. A build that throws records its error message instead (the same shapes must fail the same way).
import { createHash } from 'node:crypto';
import { buildLayerNorm } from '../programs/layernorm/build.js';
import { layernormPlan } from '../programs/layernorm/model.js';
import { buildSoftmax, type SoftmaxBuildOptions } from '../programs/softmax/build.js';
import { buildQkSoftmax } from '../programs/qk-softmax/build.js';
import { parseSoftmaxCase } from '../kernels/npu/softmax.js';
import { assembleBuilt } from '../programs/index.js';
import type { BuiltProgram } from '../programs/linear/build.js';
import { loadMachine, parseMachine, type MachineConfig } from '../sim/config.js';

const machines: ReadonlyArray<readonly [string, MachineConfig]> = [
  ['edge', loadMachine('edge')],
  ['server', loadMachine('server')],
  ['edge-nodiv', parseMachine({ divider: { present: false } })],
  ['server-nodiv', parseMachine({ preset: 'server', divider: { present: false } })],
  ['lanes8', parseMachine({ vpu: { lanes: 8 } })],
  ['server-pipe', parseMachine({ preset: 'server', divider: { divIntervalCycles: 1, sqrtIntervalCycles: 1 } })],
  ['edge-pipe', parseMachine({ divider: { divIntervalCycles: 1 } })],
];

function digest(built: () => BuiltProgram, cfg: MachineConfig): string {
  try {
    const p = assembleBuilt(built(), cfg);
    const h = createHash('sha256');
    h.update(new Uint8Array(p.words.buffer, p.words.byteOffset, p.words.byteLength));
    for (const b of p.buffers.values()) h.update(`${b.name} ${b.space} ${b.address} ${b.size};`);
    h.update(JSON.stringify(p.allocated));
    return `${h.digest('hex').slice(0, 24)} ${p.words.length / 2}`;
  } catch (e) {
    return `error ${(e as Error).message.split('\n')[0]}`;
  }
}

const only = process.argv[2];
const out: string[] = [];
const t0 = performance.now();
if (!only || only === 'layernorm') {
  const shapes: Array<[number, number]> = [[0, 768], [1, 45], [5, 45], [9, 100], [12, 100], [30, 768], [64, 200], [16, 1024], [24, 700], [128, 768], [7, 128], [3, 257]];
  for (const [mn, cfg] of machines) {
    for (const [rows, C] of shapes) {
      const L = cfg.vpu.lanes;
      const nv = Math.ceil(C / L);
      const gens: number[][] = [[], [0], nv > 2 ? [1, nv - 1] : [0]];
      for (const gen of gens) {
        for (const second of [undefined, { m: 1234567, e: 20 }]) {
          if (second && gen.length) continue;
          for (const shift of [0, 3]) {
            const key = `layernorm ${mn} ${rows}x${C} gen=${gen.join('.')} second=${second ? 1 : 0} shift=${shift}`;
            out.push(`${key} ${digest(() => buildLayerNorm(layernormPlan(rows, C, cfg, gen, second), shift, cfg), cfg)}`);
          }
        }
      }
    }
  }
}
if (!only || only === 'softmax') {
  const consts = [2e-4, 1.92e-4, 3.125e-4, 1.25e-3, 0.05, 1, 1e-5].map((s) => parseSoftmaxCase({ x_int: [0], scale_in: s }).consts);
  const shapes: Array<[number, number]> = [[1, 5], [7, 16], [13, 33], [40, 64], [100, 128], [50, 200], [20, 300], [30, 512], [12, 1000], [96, 128], [384, 128]];
  const optsList: SoftmaxBuildOptions[] = [
    {}, { reciprocal: 'newton' }, { probsU8: true }, { xResident: false }, { xResident: true }, { recipLag: 2 }, { recipLag: 1 },
    { splitExp: true }, { splitExp: false }, { chunkRows: 4 }, { chunkRows: 7, probsU8: true }, { reciprocal: 'newton', probsU8: true },
    { splitExp: true, recipLag: 2, probsU8: true },
  ];
  for (const [mn, cfg] of machines) {
    for (const [rows, rowLen] of shapes) {
      for (const mask of ['none', 'element', 'position'] as const) {
        for (let oi = 0; oi < optsList.length; oi++) {
          const ci = (rows + oi) % consts.length;
          const key = `softmax ${mn} ${rows}x${rowLen} ${mask} opts=${JSON.stringify(optsList[oi])} c=${ci}`;
          out.push(`${key} ${digest(() => buildSoftmax({ rows, rowLen, consts: consts[ci]!, mask }, cfg, optsList[oi]!), cfg)}`);
        }
      }
    }
  }
}
if (!only || only === 'qk') {
  const consts = [2e-4, 1.25e-3, 0.05].map((s) => parseSoftmaxCase({ x_int: [0], scale_in: s }).consts);
  const shapes: Array<[number, number, number]> = [[8, 32, 2], [24, 64, 2], [16, 64, 4], [32, 128, 2], [64, 256, 4], [128, 768, 12], [40, 96, 3]];
  for (const [mn, cfg] of machines) {
    for (const [T, hidden, heads] of shapes) {
      for (const mask of ['none', 'position'] as const) {
        for (const probsU8 of [false, true]) {
          const ci = (T + heads) % consts.length;
          const key = `qk-softmax ${mn} T${T} D${hidden} H${heads} ${mask} u8=${probsU8} c=${ci}`;
          out.push(`${key} ${digest(() => buildQkSoftmax({ T, hidden, heads, mask, probsU8 }, consts[ci]!, cfg), cfg)}`);
        }
      }
    }
  }
  // the base layer's seq-512 program (about a million instructions) on edge
  const c = parseSoftmaxCase({ x_int: [0], scale_in: 2e-4 }).consts;
  out.push(`qk-softmax edge T512 D768 H12 position u8=true ${digest(() => buildQkSoftmax({ T: 512, hidden: 768, heads: 12, mask: 'position', probsU8: true }, c, loadMachine('edge')), loadMachine('edge'))}`);
}
process.stdout.write(out.join('\n') + '\n');
process.stderr.write(`${out.length} builds (${out.filter((l) => / error /.test(l)).length} errors) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
