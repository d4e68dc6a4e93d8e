// The fused qk-softmax program (layer steps 3-4, docs/IBERT.md sections 7 and 9): scores[h] = Q_h . K_h^T on the
// MXU, written straight into the softmax's accumulator chunk buffers, and the softmax row pipeline of
// programs/softmax/build.ts reading them there. The int32 scores never go to DRAM: the program reads q8 and k8
// (int8) and writes the probabilities: int16 in [0, 256], or (probsU8) uint8 min(p, 255), the byte format the P.V
// program's mxu.mm.u8 reads (the clamp of kernels/npu/attention.ts npuPvInts done by the NPU).
//
// Why this shape: the softmax already double-buffers chunks of score rows in the accumulator (buffer `xa`, rows
// padded to lpad) and loads chunk k+1 while it computes chunk k. Here the load of a chunk is replaced by the MXU
// work that produces it: a chunk is chunkRows consecutive query rows of one head (chunkRows divides T), so its
// scores are Q rows [chunkRows, dHead] times K_h^T, a GEMM whose output tile is streamed by mxu.mm straight into
// the chunk buffer with the accumulator row stride lpad. The MXU is a separate unit, so it computes chunk k+1
// while the VPU runs the softmax of chunk k; the hardware's hazard tracking orders the writes after the last
// reads of the buffer. K_h is loaded once per head, the Q rows once per chunk (three spad buffers each rotate),
// one chunk ahead of their MXU work; the MXU work of a chunk is spread over three iterations of the chunk before
// it, so the MXU queue never holds the front end long (see ChunkProducer in programs/softmax/build.ts).
import { TilingError } from '../schedule.js';
import { buildSoftmax, readProbs, softmaxVariant, type ChunkProducer } from '../softmax/build.js';
import { partRange, qkSoftmaxPlan, qkSoftmaxModel, type QkSoftmaxMachine, type QkSoftmaxModel, type QkSoftmaxPlan } from './model.js';
import type { SoftmaxNpuConsts } from '../../kernels/npu/softmax.js';
import type { MachineConfig } from '../../sim/config.js';
import { loadProgram, simulate, type SimResult } from '../../sim/run.js';
import { assembleBuilt, machineFor, programBuffer, type RunOptions } from '../index.js';
import { storedProgram } from '../program-store.js';
import { emitted, type BuiltProgram } from '../linear/build.js';
import type { Program } from '../../isa/asm.js';

export interface QkSoftmaxShape {
  readonly T: number;
  readonly hidden: number;
  readonly heads: number;
  /** the key mask per row position (the layer's padding mask), or none */
  readonly mask: 'none' | 'position';
  /** store the probabilities as uint8 min(p, 255), the byte format P.V's mxu.mm.u8 reads (default: int16 in [0, 256]) */
  readonly probsU8?: boolean;
}

export function buildQkSoftmax(shape: QkSoftmaxShape, consts: SoftmaxNpuConsts, mach: QkSoftmaxMachine): BuiltProgram & { plan: QkSoftmaxPlan } {
  const { T, hidden: D, heads: H } = shape;
  const plan = qkSoftmaxPlan(shape, softmaxVariant(consts), mach);
  const { dHead: dh, chunkRows: Cr } = plan;
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const file = `qk_softmax_${T}x${D}_h${H}${shape.mask === 'none' ? '' : '_mask'}${plan.softmax.probsU8 ? '_u8' : ''}.s`;
  /** buffer addresses, known once the producer declared them */
  const B = { q: 0, k: 0, qs: 0, ks: 0 };
  const producer: ChunkProducer = {
    file,
    notes: [
      `fused with qk: scores[h][t][s] = sum_d q8[t][h*${dh} + d] * k8[s][h*${dh} + d] (T = ${T}, hidden = ${D}, heads = ${H}) computed on the MXU`,
      `straight into the chunk buffers xa (chunks of ${Cr} query rows of one head): the int32 scores never go to DRAM`,
      'K_h [T, dHead] in ks (three heads rotate), the chunk\'s Q rows in qs (three chunks rotate), loaded one chunk ahead of their MXU work;',
      'mxu.wload takes K_h as W = [N, K] directly',
    ],
    declare(e) {
      B.q = e.buffer('q', 'dram', T * D, `int8 [${T}][${D}]`);
      B.k = e.buffer('k', 'dram', T * D, `int8 [${T}][${D}]`);
      B.qs = e.buffer('qs', 'spad', 3 * Cr * dh, `three chunks of Q rows [${Cr}][${dh}]`);
      B.ks = e.buffer('ks', 'spad', 3 * T * dh, `K of three heads [${T}][${dh}]`);
    },
    produce(k, row0, n, chip, lpad, out, part, parts) {
      const head = (kk: number): { h: number; m0: number; n: number } => {
        const r0 = kk * Cr, h = Math.floor(r0 / T), m0 = r0 % T;
        return { h, m0, n: Math.min(Cr, H * T - r0) };
      };
      const ksOf = (h: number): number => B.ks + (h % 3) * T * dh;
      const qsOf = (kk: number): number => B.qs + (kk % 3) * Cr * dh;
      const DMA = ['r21', 'r22', 'r28', 'r29', 'r30', 'r31'] as const;
      // the operands of chunk kk (K_h with the first chunk of a head, the chunk's Q rows), one chunk ahead of its
      // MXU work so that the MXU never waits on DRAM (and its queue never holds the front end on a load)
      const loads = (kk: number): void => {
        if (kk * Cr >= H * T) return;
        const c = head(kk);
        if (c.m0 === 0) {
          out.li('r21', ksOf(c.h), 'ks');
          out.li('r22', B.k + c.h * dh, 'k');
          [T, dh, dh, D].forEach((v, i) => out.li(DMA[2 + i]!, v));
          out.op('dma.ld', 'spad', ...DMA);
          out.remark(`K_h of head ${c.h} -> ks ${c.h % 3}`);
        }
        out.li('r21', qsOf(kk), 'qs');
        out.li('r22', B.q + c.m0 * D + c.h * dh, 'q');
        [c.n, dh, dh, D].forEach((v, i) => out.li(DMA[2 + i]!, v));
        out.op('dma.ld', 'spad', ...DMA);
        out.remark(`Q rows ${c.m0}..${c.m0 + c.n - 1} of head ${c.h} -> qs ${kk % 3}`);
      };
      const { h, m0 } = head(k);
      if (m0 + n > T || row0 !== k * Cr) throw new Error('internal: a qk-softmax chunk crosses heads');
      if (part === 0) {
        if (k === 0) loads(0);
        loads(k + 1);
      }
      const pairs: Array<[number, number]> = [];
      for (let n0 = 0; n0 < T; n0 += C) for (let k0 = 0; k0 < dh; k0 += R) pairs.push([n0, k0]);
      const [p0, p1] = partRange(pairs.length, part, parts);
      if (p1 === p0) return;
      out.li('r30', dh);
      out.li('r31', lpad);
      for (let i = p0; i < p1; i++) {
        const [n0, k0] = pairs[i]!;
        const nt = Math.min(C, T - n0);
        const kt = Math.min(R, dh - k0);
        out.li('r21', ksOf(h) + n0 * dh + k0, 'ks');
        out.li('r28', kt);
        out.li('r29', nt);
        out.op('mxu.wload', 'r21', 'r30', 'r28', 'r29');
        out.remark(`K_h rows ${n0}..${n0 + nt - 1}, d ${k0}..${k0 + kt - 1}`);
        out.li('r21', chip + n0, 'xa'); // the softmax's chunk buffers
        out.li('r22', qsOf(k) + k0, 'qs');
        out.li('r28', n);
        out.op('mxu.mm', 'r21', 'r22', 'r28', 'r31', 'r30', k0 === 0 ? 'ovw' : 'acc');
      }
    },
  };
  if (plan.softmax.chunkRows !== Cr) throw new TilingError('internal: qk-softmax plan chunk size');
  const built = buildSoftmax({ rows: H * T, rowLen: T, consts, mask: shape.mask }, mach, { chunkRows: Cr, xResident: plan.softmax.xResident, reciprocal: plan.softmax.reciprocal, probsU8: plan.softmax.probsU8, recipLag: plan.softmax.recipLag, splitExp: plan.softmax.splitExp }, producer);
  return emitted(built.program!, { plan });
}

export interface QkSoftmaxRun<Y extends Int16Array | Uint8Array = Int16Array | Uint8Array> {
  /**
   * probabilities [H, T, T] as the program stored them in its DRAM buffer `y`: int16 in [0, 256] (default), or with
   * probsU8 uint8 min(p, 255) (H * T * T bytes, row-major [h][t][s], the `p` layout of the P.V program)
   */
  readonly y: Y;
  readonly sim: SimResult;
  readonly model: QkSoftmaxModel;
  readonly program: Program;
}

export interface QkSoftmaxRunOptions extends RunOptions {
  /** store uint8 min(p, 255) (the NPU saturates; what P.V's mxu.mm.u8 reads) instead of int16 in [0, 256] */
  readonly probsU8?: boolean;
}

/**
 * q8, k8 [T, hidden] int8 -> softmax(Q_h K_h^T) per head as probabilities [H, T, T] in the program's DRAM buffer `y`:
 * int16 in [0, 256], or (opts.probsU8) uint8 min(p, 255). mask: 0/1 per key position.
 */
export function runQkSoftmaxSim(
  q8: Int8Array, k8: Int8Array, T: number, hidden: number, heads: number, consts: SoftmaxNpuConsts, cfg: MachineConfig,
  mask: ArrayLike<number> | undefined, opts: QkSoftmaxRunOptions & { readonly probsU8: true },
): QkSoftmaxRun<Uint8Array>;
export function runQkSoftmaxSim(
  q8: Int8Array, k8: Int8Array, T: number, hidden: number, heads: number, consts: SoftmaxNpuConsts, cfg: MachineConfig,
  mask?: ArrayLike<number>, opts?: QkSoftmaxRunOptions & { readonly probsU8?: false },
): QkSoftmaxRun<Int16Array>;
export function runQkSoftmaxSim(
  q8: Int8Array, k8: Int8Array, T: number, hidden: number, heads: number, consts: SoftmaxNpuConsts, cfg: MachineConfig,
  mask?: ArrayLike<number>, opts?: QkSoftmaxRunOptions,
): QkSoftmaxRun;
export function runQkSoftmaxSim(
  q8: Int8Array, k8: Int8Array, T: number, hidden: number, heads: number, consts: SoftmaxNpuConsts, cfg: MachineConfig,
  mask?: ArrayLike<number>, opts: QkSoftmaxRunOptions = {},
): QkSoftmaxRun {
  const probsU8 = opts.probsU8 ?? false;
  const shape: QkSoftmaxShape = { T, hidden, heads, mask: mask === undefined ? 'none' : 'position', probsU8 };
  // the program through the memo store (programs/program-store.ts): a second run reads it back instead of building it
  const program = storedProgram(cfg, `qk-softmax ${JSON.stringify([shape, consts])}`, () => assembleBuilt(buildQkSoftmax(shape, consts, cfg), cfg));
  const m = machineFor(program, cfg, opts);
  m.writeBuffer(programBuffer(program, 'q'), q8);
  m.writeBuffer(programBuffer(program, 'k'), k8);
  if (mask !== undefined) m.writeBuffer(programBuffer(program, 'mask'), Int8Array.from(mask, (v) => (v === 0 ? 0 : 1)));
  const sim = simulate(loadProgram(program.words, program), cfg, { machine: m, mode: opts.mode ?? 'full', trace: opts.trace ?? false });
  const y = readProbs(sim.machine, programBuffer(program, 'y'), heads * T * T, probsU8);
  return { y, sim, program, model: qkSoftmaxModel(shape, softmaxVariant(consts), cfg) };
}
