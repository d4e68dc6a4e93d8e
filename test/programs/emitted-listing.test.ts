// The layernorm, softmax and qk-softmax builders emit instruction words (isa/emit.ts), not text: their listing
// (rendered on demand for the trace, the debugger and --emit-asm) must re-assemble to the same words, buffers and
// source lines, in every variant the builders take (divider or Newton, masks, uint8 output, split and merged exp
// stages, streamed rows, the outer chunk loop, the fused producer). Small shapes: the full-size builds are compared
// word for word against the text builders' by bench/builder-hashes.ts.
import { describe, expect, it } from 'vitest';
import { assemble, type Program } from '../../isa/asm.js';
import { parseSoftmaxCase } from '../../kernels/npu/softmax.js';
import { buildLayerNorm } from '../../programs/layernorm/build.js';
import { layernormPlan } from '../../programs/layernorm/model.js';
import { buildQkSoftmax } from '../../programs/qk-softmax/build.js';
import { buildSoftmax, type SoftmaxBuildOptions } from '../../programs/softmax/build.js';
import { mergedStages } from '../../programs/softmax/model.js';
import { loadMachine, parseMachine } from '../../sim/config.js';

const edge = loadMachine('edge');
const server = loadMachine('server');
const edgeNoDiv = parseMachine({ divider: { present: false } });
const lanes8 = parseMachine({ vpu: { lanes: 8 } });
const serverPipe = parseMachine({ preset: 'server', divider: { divIntervalCycles: 1, sqrtIntervalCycles: 1 } });

function expectReassembles(p: Program | undefined, what: string): void {
  expect(p, what).toBeDefined();
  const re = assemble(p!.sourceLines.join('\n') + '\n', { file: p!.file });
  expect(re.words.length, what).toBe(p!.words.length);
  for (let i = 0; i < p!.words.length; i++) if (re.words[i] !== p!.words[i]) expect.fail(`${what}: word ${i} (pc ${i >> 1}) differs: ${p!.sourceLines[p!.lines[i >> 1]! - 1]}`);
  expect([...re.buffers.values()].map((x) => [x.name, x.space, x.address, x.size, x.line]), what).toEqual([...p!.buffers.values()].map((x) => [x.name, x.space, x.address, x.size, x.line]));
  expect(Array.from(re.lines), what).toEqual(Array.from(p!.lines));
}

describe('emitted builders: the listing re-assembles to the same program', () => {
  it('layernorm: divider, no divider (software routines), general vectors, resident constants, second requantization, tail lanes', () => {
    const cases = [
      [12, 100, edge, [], undefined], [9, 100, edgeNoDiv, [1], undefined], [24, 700, serverPipe, [], undefined], [16, 45, lanes8, [0, 5], undefined],
      [10, 200, server, [], { m: 1234567, e: 20 }], [0, 64, edge, [], undefined],
    ] as const;
    for (const [rows, C, cfg, gen, second] of cases) {
      const b = buildLayerNorm(layernormPlan(rows, C, cfg, gen, second), 3, cfg);
      expectReassembles(b.program, `layernorm ${rows}x${C} on ${cfg.name}`);
    }
    const resident = buildLayerNorm(layernormPlan(24, 700, serverPipe), 3, serverPipe);
    expect(resident.plan.constsResident).toBe(true);
    expect(resident.program!.sourceLines.some((l) => /; mu of row \d+$/.test(l))).toBe(true); // remarks ride on their instruction
    // addresses are named by their buffer, as the text builders wrote them
    expect(resident.program!.sourceLines.filter((l) => /^\s*li r7, x$|^\s*li r8, y$|^\s*li r31, xring \+ \d+$/.test(l)).length).toBeGreaterThanOrEqual(3);
  });

  it('softmax: masks, Newton, uint8, split and merged exp stages, streamed rows, the outer chunk loop', () => {
    const c = parseSoftmaxCase({ x_int: [0], scale_in: 2e-4 }).consts;
    const c2 = parseSoftmaxCase({ x_int: [0], scale_in: 0.05 }).consts;
    const cases: Array<[number, number, typeof edge, 'none' | 'element' | 'position', SoftmaxBuildOptions, typeof c]> = [
      [13, 33, edge, 'element', {}, c], [40, 64, edgeNoDiv, 'position', { probsU8: true }, c2], [20, 300, edge, 'none', {}, c],
      [40, 64, serverPipe, 'none', { splitExp: true, recipLag: 2, probsU8: true }, c], [50, 128, serverPipe, 'position', { splitExp: true }, c2],
      [7, 16, lanes8, 'element', { reciprocal: 'newton' }, c], [200, 16, edge, 'position', { chunkRows: 12 }, c],
    ];
    let sawMerged = false, sawSplit = false, sawOuter = false, sawNewton = false;
    for (const [rows, rowLen, cfg, mask, opts, k] of cases) {
      const b = buildSoftmax({ rows, rowLen, consts: k, mask }, cfg, opts);
      expectReassembles(b.program, `softmax ${rows}x${rowLen} ${mask} ${JSON.stringify(opts)} on ${cfg.name}`);
      sawMerged ||= mergedStages(b.plan);
      sawSplit ||= b.plan.splitExp && !mergedStages(b.plan);
      sawOuter ||= b.plan.outerPasses > 0;
      sawNewton ||= b.plan.reciprocal === 'newton';
    }
    expect([sawMerged, sawSplit, sawOuter, sawNewton]).toEqual([true, true, true, true]);
  });

  it('qk-softmax: the fused producer, with and without the key mask, int16 and uint8', () => {
    const c = parseSoftmaxCase({ x_int: [0], scale_in: 1 / 1024 }).consts;
    for (const [T, D, H, cfg, mask, probsU8] of [[24, 64, 2, edge, 'none', false], [40, 96, 3, server, 'position', true], [24, 64, 2, lanes8, 'position', false]] as const) {
      const b = buildQkSoftmax({ T, hidden: D, heads: H, mask, probsU8 }, c, cfg);
      expectReassembles(b.program, `qk-softmax T${T} on ${cfg.name}`);
      expect(b.file).toMatch(/^qk_softmax_/);
      expect(b.program!.sourceLines.filter((l) => /^\s*mxu\.mm /.test(l)).length).toBeGreaterThan(0);
      expect(b.program!.sourceLines.some((l) => /^\s*li r21, xa \+ \d+$/.test(l)) && b.program!.sourceLines.some((l) => /^\s*li r22, q( \+ \d+)?$/.test(l))).toBe(true);
    }
  });
});
