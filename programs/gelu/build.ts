// Program builder for the fused `gelu` kernel: i-GELU on the int32 fc1 accumulator and the following 8-bit
// requantization (docs/IBERT.md section 6 and section 9 steps 13-14), in the NPU form of kernels/npu/gelu.ts.
// The stream (tiles, buffers, the row loop) is the shared one of programs/requant-act/build.ts; the micro-kernel is
// programs/gelu/model.ts's op list, which the cycle model prices.
//
// Vectorised along the row (one fc1 output channel per lane): i-GELU's constants q_b, q_c, q_1 and the requant
// multiplier/shifts are per channel, so each column block keeps its 7 constant vectors (+ -q_b) in registers
// while all rows stream through; 4 rows are interleaved op by op (13 VPU ops per row, 5 temporaries each) so that
// every 3-cycle multiply has the other rows' ops to hide behind on the in-order VPU.
//
// Per row (x = int32 accumulators, one channel per lane):
//   vsgn s; vmax/vmin c = clamp(x, q_b, -q_b); vmacr sa = s*q_b + c; vmul a = s*sa; vmul vc = s*qc_lo;
//   vmacr t' = floor((sa*a + vc) / 2^14)  (64-bit inside); vmacr k = s*qc_hi + q_1; vadd u = t' + k;
//   vmulr.vv z = sat32(rne(x*u / 2^s1)); vmulr.vv y = sat8(rne(z*m / 2^sh)); vst.s8 y.
import { geluKernel } from './model.js';
import { streamTiling } from '../requant-act/model.js';
import { geluConstRows, prepareGelu } from '../../kernels/npu/gelu.js';
import type { MachineConfig } from '../../sim/config.js';
import type { CaseRun, RunOptions } from '../index.js';
import { constTable, runStream } from '../requant-act/build.js';

/** Layer 3: the fused i-GELU + QuantAct program for a gelu case on the simulator (outputs, cycles, model cycles). */
export function simCaseGelu(input: unknown, cfg: MachineConfig, opts: RunOptions = {}): CaseRun {
  const p = prepareGelu(input);
  const k = p.k;
  const kernel = geluKernel(cfg.vpu.lanes, k.outBits);
  const tiling = streamTiling(kernel, p.rows, p.cols, p.perChannel, cfg);
  const H = 1 << (k.outBits - 1); // out_bits <= 8
  const header = [
    `gelu: y[${p.shape.join(', ')}] (int${k.outBits}) = QuantAct(${k.outBits})(i-GELU(x)), x int32 (the fc1 accumulator)`,
    `${p.perChannel ? `per-channel constants (${p.cols} channels)` : 'per-tensor constants'}: q_b, q_c = qc_hi*2^14 + qc_lo, q_1, ` +
      's1 (first rounding of x*u), m and sh (requantization)',
  ];
  return runStream(
    { kernel, tiling, scalarValues: { r14: 14, r15: -1, r16: -H, r17: H - 1 }, header, file: `gelu_${p.shape.join('x')}.s` },
    { x: p.x, k: constTable(geluConstRows(k), tiling) },
    p.shape, cfg, opts,
  );
}
