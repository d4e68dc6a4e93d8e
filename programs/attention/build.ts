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
import { storedProgram } from '../program-store.js';
import { emitted, opLi, type BuiltProgram } from '../linear/build.js';
import { ProgramEmitter } from '../../isa/emit.js';
import type { Program } from '../../isa/asm.js';

/** Where each kernel's operands live in DRAM and how its weight tiles are laid out and preloaded. */
interface HeadGemmLayout {
  /** DRAM address of x_h[m][k] and the DRAM row stride of x in bytes. */
  x(h: number, m: number, k: number): number;
  readonly xStride: number;
  /** The DMA of weight tile (k0..k0+kt) x (n0..n0+nt) of head h into a ring slot. */
  loadW(slot: number, h: number, k0: number, kt: number, n0: number, nt: number): void;
  /** The preload of a ring slot holding a kt x nt tile. */
  preload(slot: number, kt: number, nt: number): void;
  /** DRAM address of y_h[m][n] (the int32 scores or context; unused with the requantizing output stage). */
  y(h: number, m: number, n: number): number;
  readonly yStride: number;
  /** DRAM address of the int8 context (requantizing output stage), -1 without it. */
  readonly ctx8: number;
  readonly mm: string;
}

/** The title comments and the DRAM buffers of a kernel (allocated in this order, as the listing declares them). */
function layoutOf(e: ProgramEmitter, t: AttentionTiling, mach: ModelMachine, requant: boolean): HeadGemmLayout {
  const { T, hidden: D, heads: H, dHead: dh } = t;
  const R = mach.mxu.rows, C = mach.mxu.cols;
  if (t.kernel === 'qk') {
    e.comment(`qk: scores[h][t][s] (int32) = sum_d q8[t][h*${dh} + d] * k8[s][h*${dh} + d], T = ${T}, hidden = ${D}, heads = ${H}`);
    e.comment(`per head a GEMM x = Q_h [${T}, ${dh}] (int8 rows of q, stride ${D}) times W = K_h [${T}, ${dh}] (the [N, K] layout of mxu.wload)`);
    const q = e.buffer('q', 'dram', T * D), k = e.buffer('k', 'dram', T * D), scores = e.buffer('scores', 'dram', H * T * T * 4);
    return {
      x: (h, m, kk) => q + m * D + h * dh + kk,
      xStride: D,
      // K_h rows s = n0.. (output columns) of kt bytes each: [nt][R] in the slot.
      loadW: (slot, h, k0, kt, n0, nt) => opLi(e, 'dma.ld', ['spad'], [[1, slot], [2, k + n0 * D + h * dh + k0], [3, nt], [4, kt], [5, R], [6, D]]),
      preload: (slot, kt, nt) => opLi(e, 'mxu.wload', [], [[7, slot], [8, R], [9, kt], [10, nt]]),
      y: (h, m, n) => scores + ((h * T + m) * T + n) * 4,
      yStride: T * 4,
      ctx8: -1,
      mm: 'mxu.mm',
    };
  }
  e.comment(`pv: context[t][h*${dh} + j] (int32) = sum_s p[h][t][s] * v8[s][h*${dh} + j], T = ${T}, hidden = ${D}, heads = ${H}`);
  e.comment(`per head a GEMM x = P_h [${T}, ${T}] (uint8 probabilities, saturated to 255: mxu.mm.u8) times W = V_h [${T}, ${dh}]`);
  e.comment(`(already K-major: rows of v with stride ${D}, preloaded transposed by mxu.wload.t)`);
  const p = e.buffer('p', 'dram', H * T * T), v = e.buffer('v', 'dram', T * D);
  const ctx = requant ? e.buffer('ctx', 'dram', T * D, 'int8 context') : e.buffer('ctx', 'dram', T * D * 4);
  return {
    x: (h, m, k) => p + (h * T + m) * T + k,
    xStride: T,
    // V rows s = k0.. (the reduction) of nt bytes each, columns h*dh + n0..: [kt][C] in the slot.
    loadW: (slot, h, k0, kt, n0, nt) => opLi(e, 'dma.ld', ['spad'], [[1, slot], [2, v + k0 * D + h * dh + n0], [3, kt], [4, nt], [5, C], [6, D]]),
    preload: (slot, kt, nt) => opLi(e, 'mxu.wload.t', [], [[7, slot], [8, C], [9, kt], [10, nt]]),
    y: (h, m, n) => ctx + (m * D + h * dh + n) * 4,
    yStride: D * 4,
    ctx8: requant ? ctx : -1,
    mm: 'mxu.mm.u8',
  };
}

/**
 * Builds the straight-line program of one attention matmul for a shape and machine, from the schedule of
 * programs/attention/model.ts (which its cycle model prices), as instruction words (isa/emit.ts; the listing is
 * rendered only when read). Why this shape of program: the kernel is a GEMM,
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
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const { K } = t;
  const slotBytes = R * C;
  const e = new ProgramEmitter(`${kernel}_${T}x${hidden}_h${heads}.s`);
  const lay = layoutOf(e, t, mach, requant !== undefined);
  e.comment(`machine: ${R}x${C} MXU; tiles: x rows ${t.mt} (x${t.mTiles} per head), K ${R} (x${t.kTiles}), N ${C} (x${t.nTiles}); ${heads} heads`);
  e.comment(`buffers in rotation: ${t.xBuffers} x blocks, ${t.ringSlots} weight slots, ${t.accTiles} accumulator tiles; loads run ${t.prefetchSteps} step(s) ahead of their streams`);
  e.comment('registers: r1..r6 DMA operands (chip, dram, rows, len, chip stride, dram stride);');
  e.comment('           r7..r10 weight preload (addr, stride, k, n); r11..r15 stream (acc, x, rows, acc stride, x stride)');
  e.comment('the first stream of each output tile overwrites the accumulator (ovw): there is no bias to preload');
  let ys = 0;
  if (requant) {
    e.comment(`output stage: the context QuantAct(8) (layer step 6) on the VPU: ctx8 = sat8(rne(ctx * ${requant.m} / 2^${requant.e})),`);
    e.comment(`rows of ${PV_POST_GROUP} interleaved (vld.acc, vmulr.vx r16, r17, vst.s8 into the tile's ys slot), then stored as int8`);
    ys = e.buffer('ys', 'spad', t.accTiles * t.mt * C, `${t.accTiles} int8 output slots of [${t.mt}][${C}]`);
    e.comment('requantization multiplier (r16) and shift (r17)');
    e.li(16, requant.m);
    e.li(17, requant.e);
  }
  const xs = e.buffer('xs', 'spad', t.xBuffers * t.mt * K, `${t.xBuffers} x row block(s) of [${t.mt}][${K}]`);
  const wring = e.buffer('wring', 'spad', t.ringSlots * slotBytes, `${t.ringSlots} weight slots of ${slotBytes} bytes`);
  const yacc = e.buffer('yacc', 'acc', t.accTiles * t.mt * C, `${t.accTiles} accumulator tiles of [${t.mt}][${C}]`);
  const xb = (buf: number, k0: number): number => xs + buf * t.mt * K + k0;
  const ws = (slot: number): number => wring + slot * slotBytes;
  const acc = (a: number): number => yacc + a * t.mt * C;
  const ops = attentionSchedule(t, mach);
  let vl = -1;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    switch (op.kind) {
      case 'loadX':
        e.comment(`load x of head ${op.h}: rows ${op.m0}..${op.m0 + op.mt - 1}, k ${op.k0}..${op.k0 + op.kt - 1} -> block ${op.buf}`);
        opLi(e, 'dma.ld', ['spad'], [[1, xb(op.buf, op.k0)], [2, lay.x(op.h, op.m0, op.k0)], [3, op.mt], [4, op.kt], [5, K], [6, lay.xStride]]);
        break;
      case 'loadW':
        e.comment(`load weights of head ${op.h}: k ${op.k0}..${op.k0 + op.kt - 1}, n ${op.n0}..${op.n0 + op.nt - 1} -> slot ${op.slot}`);
        lay.loadW(ws(op.slot), op.h, op.k0, op.kt, op.n0, op.nt);
        break;
      case 'preload': {
        // A preload is always followed by its stream: the first of a tile opens the tile's block of code.
        const next = ops[i + 1];
        if (next?.kind === 'stream' && next.first) {
          e.comment(`---- head ${next.h}: output tile rows ${next.m0}..${next.m0 + next.mt - 1}, columns ${next.n0}..${next.n0 + next.nt - 1} in acc tile ${next.acc} ----`);
        }
        lay.preload(ws(op.slot), op.kt, op.nt);
        break;
      }
      case 'stream':
        opLi(e, lay.mm, [], [[11, acc(op.acc)], [12, xb(op.buf, op.k0)], [13, op.mt], [14, C], [15, K]], [op.first ? 'ovw' : 'acc']);
        break;
      case 'store':
        if (requant) {
          e.comment(`requantize and store head ${op.h} rows ${op.m0 + op.r0}..${op.m0 + op.r0 + op.rows - 1}, columns ${op.n0}..${op.n0 + op.nt - 1}`);
          const ysRow = (r: number): number => ys + op.acc * t.mt * C + r * C;
          for (const [c0, w] of laneChunks(op.nt, mach.vpu.lanes)) {
            if (w !== vl) {
              e.li(12, w);
              e.op('vsetvl', 12, 12);
              vl = w;
            }
            e.li(9, acc(op.acc) + op.r0 * C + c0);
            e.li(10, ysRow(op.r0) + c0);
            for (let g0 = 0; g0 < op.rows; g0 += PV_POST_GROUP) {
              const g = Math.min(PV_POST_GROUP, op.rows - g0);
              for (let i = 0; i < g; i++) e.op('vld.acc', i, 9, C);
              for (let i = 0; i < g; i++) e.op('vmulr.vx', i, i, 16, 17, 'rne', 'sat8');
              for (let i = 0; i < g; i++) e.op('vst.s8', i, 10, C);
            }
          }
          opLi(e, 'dma.st', ['spad'], [[1, ysRow(op.r0)], [2, lay.ctx8 + (op.m0 + op.r0) * hidden + op.h * t.dHead + op.n0], [3, op.rows], [4, op.nt], [5, C], [6, hidden]]);
          break;
        }
        e.comment(`store head ${op.h} rows ${op.m0 + op.r0}..${op.m0 + op.r0 + op.rows - 1}, columns ${op.n0}..${op.n0 + op.nt - 1}`);
        opLi(e, 'dma.st', ['acc'], [[1, acc(op.acc) + op.r0 * C], [2, lay.y(op.h, op.m0 + op.r0, op.n0)], [3, op.rows], [4, op.nt], [5, C], [6, lay.yStride]]);
        break;
    }
  }
  e.op('halt');
  return emitted(e.finish(), { tiling: t });
}

const buffer = programBuffer;

function runBuilt(
  kernel: AttentionKernel, T: number, hidden: number, heads: number, inputs: Record<string, Int8Array | Uint8Array>,
  out: string, outWords: number, cfg: MachineConfig, opts: RunOptions,
): { y: Int32Array; sim: SimResult; program: Program } {
  const program = storedProgram(cfg, `attention ${JSON.stringify([kernel, T, hidden, heads])}`, () => assembleBuilt(buildAttention(kernel, T, hidden, heads, cfg), cfg));
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
  const program = storedProgram(cfg, `attention ${JSON.stringify(['pv', T, hidden, heads, f])}`, () => assembleBuilt(buildAttention('pv', T, hidden, heads, cfg, f), cfg));
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
