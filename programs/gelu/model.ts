// The fused i-GELU + QuantAct(8) micro-kernel (its VPU ops, their classes and register dependencies) and its
// cycle model. The streaming, tiling and schedule walk are shared with requant-act (programs/requant-act/model.ts);
// programs/gelu/build.ts prints this same op list as assembly, so the model and the program cannot drift.
import { streamModel, streamTiling, type MicroOp, type StreamKernel, type StreamMachine, type StreamModelResult } from '../requant-act/model.js';

/**
 * Per row (x = one int32 fc1 accumulator vector, one channel per lane; see kernels/npu/gelu.ts for the arithmetic):
 *   s = sgn(x); c = min(max(x, q_b), -q_b); sa = s*q_b + c (= s*a); a = s*sa;
 *   t' = floor((sa*a + s*qc_lo) / 2^14); k = s*qc_hi + q_1; u = t' + k (= t + q_1);
 *   z = sat32(rne(x*u / 2^s1)); y = sat8(rne(z*m / 2^sh)).
 * Constants per channel (rows of the table): q_b, qc_lo, qc_hi, q_1, s1, m, sh; -q_b is derived on the VPU.
 * Scalars: r14 = 14 (the polynomial shift), r15 = -1; r16/r17 the output range when out_bits < 8.
 */
export function geluKernel(lanes: number, outBits: number): StreamKernel {
  const L = lanes;
  const body: MicroOp[] = [
    { asm: `vld.acc %X, r9, ${L}`, cls: 'load', dst: 'X', srcs: [], mem: 'x', note: 'x: int32 accumulators' },
    { asm: 'vsgn %S, %X', cls: 'alu', dst: 'S', srcs: ['X'], note: 's = sgn(x)' },
    { asm: 'vmax %A, %X, $qb', cls: 'alu', dst: 'A', srcs: ['X', 'qb'] },
    { asm: 'vmin %A, %A, $nqb', cls: 'alu', dst: 'A', srcs: ['A', 'nqb'], note: 'c = clamp(x, q_b, -q_b)' },
    { asm: 'vmacr %A, %S, $qb, %A, r0, floor, sat32', cls: 'mul', dst: 'A', srcs: ['S', 'qb', 'A'], note: 'sa = s q_b + c = s a, a = min(|x|, -q_b) + q_b' },
    { asm: 'vmul %B, %S, %A', cls: 'mul', dst: 'B', srcs: ['S', 'A'], note: 'a = s sa' },
    { asm: 'vmul %C, %S, $qclo', cls: 'mul', dst: 'C', srcs: ['S', 'qclo'], note: 's qc_lo' },
    { asm: 'vmacr %B, %A, %B, %C, r14, floor, sat32', cls: 'mul', dst: 'B', srcs: ['A', 'B', 'C'], note: "t' = floor(s (a^2 + qc_lo) / 2^14), 64-bit inside" },
    { asm: 'vmacr %C, %S, $qchi, $q1, r0, floor, sat32', cls: 'mul', dst: 'C', srcs: ['S', 'qchi', 'q1'], note: 's qc_hi + q_1' },
    { asm: 'vadd %B, %B, %C', cls: 'alu', dst: 'B', srcs: ['B', 'C'], note: 'u = t + q_1' },
    { asm: 'vmulr.vv %X, %X, %B, $s1, rne, sat32', cls: 'mul', dst: 'X', srcs: ['X', 'B', 's1'], note: 'z = rne(x u / 2^s1): the GELU output, rounded to int32' },
    { asm: 'vmulr.vv %X, %X, $m, $sh, rne, sat8', cls: 'mul', dst: 'X', srcs: ['X', 'm', 'sh'], note: 'y = sat8(rne(z m / 2^sh))' },
  ];
  const scalars: Array<readonly [string, string]> = [['r14', 'polynomial shift 14'], ['r15', '-1 (negates q_b)']];
  if (outBits < 8) {
    body.push({ asm: 'vclamp %X, %X, r16, r17', cls: 'alu', dst: 'X', srcs: ['X'], note: 'clamp to out_bits' });
    scalars.push(['r16', 'output minimum -2^(out_bits-1)'], ['r17', 'output maximum 2^(out_bits-1)-1']);
  }
  body.push({ asm: `vst.s8 %X, r10, ${L}`, cls: 'store', srcs: ['X'], mem: 'y', note: 'int8 out' });
  return {
    name: 'gelu',
    consts: ['qb', 'qclo', 'qchi', 'q1', 's1', 'm', 'sh'],
    derived: [{ asm: 'vmul.vx $nqb, $qb, r15', cls: 'mul', dst: 'nqb', srcs: ['qb'], note: '-q_b' }],
    temps: ['X', 'S', 'A', 'B', 'C'],
    body,
    outBytes: 1,
    groupRows: 4,
    scalars,
  };
}

/** Cycles of the fused i-GELU + requantization on a [rows, cols] fc1 accumulator (channels = cols). */
export function geluModel(rows: number, cols: number, perChannel: boolean, outBits: number, mach: StreamMachine): StreamModelResult {
  const kernel = geluKernel(mach.vpu.lanes, outBits);
  return streamModel(kernel, streamTiling(kernel, rows, cols, perChannel, mach), mach);
}
