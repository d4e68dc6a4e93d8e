// Program builders and case runners for the attention matmuls (docs/IBERT.md section 9 steps 3 and 5):
// `qk` scores[h] = Q_h . K_h^T and `pv` context[:, h] = P_h . V_h, one GEMM per head on the MXU, tiled like
// `linear` (programs/linear/build.ts) by programs/attention/model.ts, whose cycle model prices the same schedule.
import { attentionSchedule, attentionTiling, laneChunks, PV_POST_GROUP, pvModel, qkModel, type AttentionKernel, type AttentionModel, type AttentionTiling } from './model.js';
import type { ModelMachine } from '../schedule.js';
import { npuPvInts, parsePvCase, parseQkCase } from '../../kernels/npu/attention.js';
import { npuMultiplier } from '../../kernels/npu/requant-act.js';
import type { MachineConfig } from '../../sim/config.js';
import { loadProgram, simulate, type SimResult } from '../../sim/run.js';
import { assembleBuilt, machineFor, programBuffer, type CaseRun, type RunOptions } from '../index.js';
import { Emitter, type BuiltProgram } from '../linear/build.js';
import type { Program } from '../../isa/asm.js';

/** Where each kernel's operands live in DRAM and how its weight tiles are laid out and preloaded. */
interface HeadGemmLayout {
  readonly title: string[];
  readonly buffers: string[];
  /** DRAM address expression of x_h[m][k] and the DRAM row stride of x in bytes. */
  x(h: number, m: number, k: number): string;
  readonly xStride: number;
  /** The DMA of weight tile (k0..k0+kt) x (n0..n0+nt) of head h into a ring slot. */
  loadW(e: Emitter, slot: string, h: number, k0: number, kt: number, n0: number, nt: number): void;
  /** The preload of a ring slot holding a kt x nt tile. */
  preload(e: Emitter, slot: string, kt: number, nt: number): void;
  /** DRAM address of y_h[m][n] and the DRAM row stride of y in bytes. */
  y(h: number, m: number, n: number): string;
  readonly yStride: number;
  readonly mm: string;
}

function layoutOf(t: AttentionTiling, mach: ModelMachine): HeadGemmLayout {
  const { T, hidden: D, heads: H, dHead: dh } = t;
  const R = mach.mxu.rows, C = mach.mxu.cols;
  if (t.kernel === 'qk') {
    return {
      title: [
        `qk: scores[h][t][s] (int32) = sum_d q8[t][h*${dh} + d] * k8[s][h*${dh} + d], T = ${T}, hidden = ${D}, heads = ${H}`,
        `per head a GEMM x = Q_h [${T}, ${dh}] (int8 rows of q, stride ${D}) times W = K_h [${T}, ${dh}] (the [N, K] layout of mxu.wload)`,
      ],
      buffers: [`.buffer q,      dram, ${T * D}`, `.buffer k,      dram, ${T * D}`, `.buffer scores, dram, ${H * T * T * 4}`],
      x: (h, m, k) => `q + ${m * D + h * dh + k}`,
      xStride: D,
      // K_h rows s = n0.. (output columns) of kt bytes each: [nt][R] in the slot.
      loadW: (e, slot, h, k0, kt, n0, nt) =>
        e.op('dma.ld', ['spad'], [['r1', slot], ['r2', `k + ${n0 * D + h * dh + k0}`], ['r3', nt], ['r4', kt], ['r5', R], ['r6', D]]),
      preload: (e, slot, kt, nt) => e.op('mxu.wload', [], [['r7', slot], ['r8', R], ['r9', kt], ['r10', nt]]),
      y: (h, m, n) => `scores + ${((h * T + m) * T + n) * 4}`,
      yStride: T * 4,
      mm: 'mxu.mm',
    };
  }
  return {
    title: [
      `pv: context[t][h*${dh} + j] (int32) = sum_s p[h][t][s] * v8[s][h*${dh} + j], T = ${T}, hidden = ${D}, heads = ${H}`,
      `per head a GEMM x = P_h [${T}, ${T}] (uint8 probabilities, saturated to 255: mxu.mm.u8) times W = V_h [${T}, ${dh}]`,
      `(already K-major: rows of v with stride ${D}, preloaded transposed by mxu.wload.t)`,
    ],
    buffers: [`.buffer p,      dram, ${H * T * T}`, `.buffer v,      dram, ${T * D}`, `.buffer ctx,    dram, ${T * D * 4}`],
    x: (h, m, k) => `p + ${(h * T + m) * T + k}`,
    xStride: T,
    // V rows s = k0.. (the reduction) of nt bytes each, columns h*dh + n0..: [kt][C] in the slot.
    loadW: (e, slot, h, k0, kt, n0, nt) =>
      e.op('dma.ld', ['spad'], [['r1', slot], ['r2', `v + ${k0 * D + h * dh + n0}`], ['r3', kt], ['r4', nt], ['r5', C], ['r6', D]]),
    preload: (e, slot, kt, nt) => e.op('mxu.wload.t', [], [['r7', slot], ['r8', C], ['r9', kt], ['r10', nt]]),
    y: (h, m, n) => `ctx + ${(m * D + h * dh + n) * 4}`,
    yStride: D * 4,
    mm: 'mxu.mm.u8',
  };
}

/**
 * Builds the straight-line program of one attention matmul for a shape and machine, from the schedule of
 * programs/attention/model.ts (which its cycle model prices). Why this shape of program: the kernel is a GEMM,
 * so the vectorisation is the MXU's (one x row per cycle against a stationary rows x cols weight tile); the
 * VPU is not used. Weight tiles go through a scratchpad ring so each DMA is one small 2-D copy that can run
 * ahead of the array; loads are emitted `prefetchSteps` steps ahead of their streams so they are dispatched
 * (and book the DRAM channel) before the stores of earlier tiles; results collect in accumulator tiles in
 * rotation so a finished tile's store overlaps the next tiles' streams.
 */
export function buildAttention(
  kernel: AttentionKernel, T: number, hidden: number, heads: number, mach: ModelMachine & { readonly vpu: { readonly lanes: number } },
  requant?: { readonly m: number; readonly e: number },
): BuiltProgram & { tiling: AttentionTiling } {
  const t = attentionTiling(kernel, T, hidden, heads, mach, requant !== undefined);
  const lay = layoutOf(t, mach);
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const { K } = t;
  const slotBytes = R * C;
  const e = new Emitter();
  for (const line of lay.title) e.comment(line);
  e.comment(`machine: ${R}x${C} MXU; tiles: x rows ${t.mt} (x${t.mTiles} per head), K ${R} (x${t.kTiles}), N ${C} (x${t.nTiles}); ${heads} heads`);
  e.comment(`buffers in rotation: ${t.xBuffers} x blocks, ${t.ringSlots} weight slots, ${t.accTiles} accumulator tiles; loads run ${t.prefetchSteps} step(s) ahead of their streams`);
  e.comment('registers: r1..r6 DMA operands (chip, dram, rows, len, chip stride, dram stride);');
  e.comment('           r7..r10 weight preload (addr, stride, k, n); r11..r15 stream (acc, x, rows, acc stride, x stride)');
  e.comment('the first stream of each output tile overwrites the accumulator (ovw): there is no bias to preload');
  if (requant) {
    e.comment(`output stage: the context QuantAct(8) (layer step 6) on the VPU: ctx8 = sat8(rne(ctx * ${requant.m} / 2^${requant.e})),`);
    e.comment(`rows of ${PV_POST_GROUP} interleaved (vld.acc, vmulr.vx r16, r17, vst.s8 into the tile's ys slot), then stored as int8`);
    for (const b of lay.buffers) e.raw(b.startsWith('.buffer ctx') ? `.buffer ctx,    dram, ${T * hidden}     ; int8 context` : b);
    e.raw(`.buffer ys,     spad, ${t.accTiles * t.mt * C}     ; ${t.accTiles} int8 output slots of [${t.mt}][${C}]`);
    e.raw(`    li   r16, ${requant.m}      ; requantization multiplier`);
    e.raw(`    li   r17, ${requant.e}      ; requantization shift`);
  } else for (const b of lay.buffers) e.raw(b);
  e.raw(`.buffer xs,     spad, ${t.xBuffers * t.mt * K}     ; ${t.xBuffers} x row block(s) of [${t.mt}][${K}]`);
  e.raw(`.buffer wring,  spad, ${t.ringSlots * slotBytes}     ; ${t.ringSlots} weight slots of ${slotBytes} bytes`);
  e.raw(`.buffer yacc,   acc,  ${t.accTiles * t.mt * C}     ; ${t.accTiles} accumulator tiles of [${t.mt}][${C}]`);
  const xb = (buf: number, k0: number): string => `xs + ${buf * t.mt * K + k0}`;
  const ws = (slot: number): string => `wring + ${slot * slotBytes}`;
  const acc = (a: number): string => `yacc + ${a * t.mt * C}`;
  const ops = attentionSchedule(t, mach);
  let vl = -1;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    switch (op.kind) {
      case 'loadX':
        e.comment(`load x of head ${op.h}: rows ${op.m0}..${op.m0 + op.mt - 1}, k ${op.k0}..${op.k0 + op.kt - 1} -> block ${op.buf}`);
        e.op('dma.ld', ['spad'], [['r1', xb(op.buf, op.k0)], ['r2', lay.x(op.h, op.m0, op.k0)], ['r3', op.mt], ['r4', op.kt], ['r5', K], ['r6', lay.xStride]]);
        break;
      case 'loadW':
        e.comment(`load weights of head ${op.h}: k ${op.k0}..${op.k0 + op.kt - 1}, n ${op.n0}..${op.n0 + op.nt - 1} -> slot ${op.slot}`);
        lay.loadW(e, ws(op.slot), op.h, op.k0, op.kt, op.n0, op.nt);
        break;
      case 'preload': {
        // A preload is always followed by its stream: the first of a tile opens the tile's block of code.
        const next = ops[i + 1];
        if (next?.kind === 'stream' && next.first) {
          e.comment(`---- head ${next.h}: output tile rows ${next.m0}..${next.m0 + next.mt - 1}, columns ${next.n0}..${next.n0 + next.nt - 1} in acc tile ${next.acc} ----`);
        }
        lay.preload(e, ws(op.slot), op.kt, op.nt);
        break;
      }
      case 'stream':
        e.op(lay.mm, [], [['r11', acc(op.acc)], ['r12', xb(op.buf, op.k0)], ['r13', op.mt], ['r14', C], ['r15', K]], [op.first ? 'ovw' : 'acc']);
        break;
      case 'store':
        if (requant) {
          e.comment(`requantize and store head ${op.h} rows ${op.m0 + op.r0}..${op.m0 + op.r0 + op.rows - 1}, columns ${op.n0}..${op.n0 + op.nt - 1}`);
          const ysRow = (r: number): number => op.acc * t.mt * C + r * C;
          for (const [c0, w] of laneChunks(op.nt, mach.vpu.lanes)) {
            if (w !== vl) {
              e.raw(`    li   r12, ${w}`);
              e.raw('    vsetvl r12, r12');
              vl = w;
            }
            e.raw(`    li   r9, ${acc(op.acc)} + ${op.r0 * C + c0}`);
            e.raw(`    li   r10, ys + ${ysRow(op.r0) + c0}`);
            for (let g0 = 0; g0 < op.rows; g0 += PV_POST_GROUP) {
              const g = Math.min(PV_POST_GROUP, op.rows - g0);
              for (let i = 0; i < g; i++) e.raw(`    vld.acc v${i}, r9, ${C}`);
              for (let i = 0; i < g; i++) e.raw(`    vmulr.vx v${i}, v${i}, r16, r17, rne, sat8`);
              for (let i = 0; i < g; i++) e.raw(`    vst.s8 v${i}, r10, ${C}`);
            }
          }
          e.op('dma.st', ['spad'], [['r1', `ys + ${ysRow(op.r0)}`], ['r2', `ctx + ${(op.m0 + op.r0) * hidden + op.h * t.dHead + op.n0}`], ['r3', op.rows], ['r4', op.nt], ['r5', C], ['r6', hidden]]);
          break;
        }
        e.comment(`store head ${op.h} rows ${op.m0 + op.r0}..${op.m0 + op.r0 + op.rows - 1}, columns ${op.n0}..${op.n0 + op.nt - 1}`);
        e.op('dma.st', ['acc'], [['r1', `${acc(op.acc)} + ${op.r0 * C}`], ['r2', lay.y(op.h, op.m0 + op.r0, op.n0)], ['r3', op.rows], ['r4', op.nt], ['r5', C], ['r6', lay.yStride]]);
        break;
    }
  }
  e.raw('    halt');
  return { source: e.lines.join('\n') + '\n', file: `${kernel}_${T}x${hidden}_h${heads}.s`, tiling: t };
}

const buffer = programBuffer;

function runBuilt(
  kernel: AttentionKernel, T: number, hidden: number, heads: number, inputs: Record<string, Int8Array | Uint8Array>,
  out: string, outWords: number, cfg: MachineConfig, opts: RunOptions,
): { y: Int32Array; sim: SimResult; program: Program } {
  const program = assembleBuilt(buildAttention(kernel, T, hidden, heads, cfg), cfg);
  const m = machineFor(program, cfg, opts);
  for (const [name, data] of Object.entries(inputs)) m.writeBuffer(buffer(program, name), data);
  const sim = simulate(loadProgram(program.words, program), cfg, { machine: m, mode: opts.mode ?? 'full', trace: opts.trace ?? false });
  const bytes = sim.machine.readBytes(buffer(program, out), outWords * 4);
  const y = new Int32Array(bytes.buffer, bytes.byteOffset, outWords);
  return { y, sim, program };
}

export interface AttentionRun {
  readonly y: Int32Array;
  readonly sim: SimResult;
  readonly model: AttentionModel;
  readonly program: Program;
}

/** qk on the simulator from typed arrays: q8, k8 [T, hidden] int8 -> scores [H, T, T] int32. */
export function runQkSim(q8: Int8Array, k8: Int8Array, T: number, hidden: number, heads: number, cfg: MachineConfig, opts: RunOptions = {}): AttentionRun {
  const r = runBuilt('qk', T, hidden, heads, { q: q8, k: k8 }, 'scores', heads * T * T, cfg, opts);
  return { ...r, model: qkModel(T, hidden, heads, cfg) };
}

/**
 * pv on the simulator from typed arrays: p8 [H, T, T] as stored for the MXU (uint8, i.e. the probabilities
 * saturated to 255, see kernels/npu/attention.ts), v8 [T, hidden] int8 -> context [T, hidden] int32.
 */
export function runPvSim(p8: Uint8Array, v8: Int8Array, T: number, hidden: number, heads: number, cfg: MachineConfig, opts: RunOptions = {}): AttentionRun {
  const r = runBuilt('pv', T, hidden, heads, { p: p8, v: v8 }, 'ctx', T * hidden, cfg, opts);
  return { ...r, model: pvModel(T, hidden, heads, cfg) };
}

function caseRun(r: AttentionRun, shape: number[]): CaseRun {
  return {
    y_int: Array.from(r.y),
    shape,
    cycles: r.sim.stats.cycles ?? 0,
    model_cycles: r.model.cycles,
    model_exact: r.model.exact,
    sim: r.sim,
    program: r.program,
  };
}

/**
 * pv with the context QuantAct(8) in its output stage (layer steps 5-6): p8 [H, T, T] uint8 (as runPvSim), v8 int8,
 * per-tensor (m, e) in the frexp31 form (normalised as npuMultiplier does) -> ctx8 [T, hidden] int8 (as int32 values).
 */
export function runPvRequantSim(
  p8: Uint8Array, v8: Int8Array, T: number, hidden: number, heads: number, q: { readonly m: number; readonly e: number }, cfg: MachineConfig, opts: RunOptions = {},
): AttentionRun {
  const f = npuMultiplier(q.m, q.e, 'context requantization');
  const program = assembleBuilt(buildAttention('pv', T, hidden, heads, cfg, f), cfg);
  const m = machineFor(program, cfg, opts);
  m.writeBuffer(buffer(program, 'p'), p8);
  m.writeBuffer(buffer(program, 'v'), v8);
  const sim = simulate(loadProgram(program.words, program), cfg, { machine: m, mode: opts.mode ?? 'full', trace: opts.trace ?? false });
  const bytes = sim.machine.readBytes(buffer(program, 'ctx'), T * hidden);
  const y = new Int32Array(T * hidden);
  for (let i = 0; i < y.length; i++) y[i] = (bytes[i]! << 24) >> 24;
  return { y, sim, program, model: pvModel(T, hidden, heads, cfg, true) };
}

/** `intnpu kernel qk --engine sim`: a qk case (kernels/npu/attention.ts) on the simulator. */
export function simCaseQk(input: unknown, cfg: MachineConfig, opts: RunOptions = {}): CaseRun {
  const c = parseQkCase(input);
  return caseRun(runQkSim(c.q, c.k, c.T, c.hidden, c.heads, cfg, opts), [c.heads, c.T, c.T]);
}

/**
 * `intnpu kernel pv --engine sim`: a pv case on the simulator. The probabilities go to DRAM as the bytes
 * the MXU reads (uint8, 256 saturated to 255: the layer-2 variant of kernels/npu/attention.ts).
 */
export function simCasePv(input: unknown, cfg: MachineConfig, opts: RunOptions = {}): CaseRun {
  const c = parsePvCase(input);
  return caseRun(runPvSim(npuPvInts(c.p), c.v, c.T, c.hidden, c.heads, cfg, opts), [c.T, c.hidden]);
}
