// Program builder for `requant`: y[i] = sat_bits(rne(x[i] * m / 2^e)) for int32 x (section 3 of the
// I-BERT reference with m and e given). x streams DRAM -> accumulator memory in chunks (two buffers, so
// the next chunk loads while the VPU works), the VPU rounds and saturates one vector per iteration,
// results go to the scratchpad and back to DRAM. The vector loop is a readable example of dbnz loops,
// post-incremented addresses and a vsetvl tail.
import { requantChunk } from './model.js';
import type { ModelMachine } from '../schedule.js';
import type { BuiltProgram } from '../linear/build.js';

export function buildRequant(n: number, multiplier: number, shift: number, bits: 8 | 16, mach: ModelMachine): BuiltProgram {
  const L = mach.vpu.lanes;
  const chunk = requantChunk(n, bits, mach);
  const eb = bits / 8;
  const sat = bits === 8 ? 'sat8' : 'sat16';
  const vst = bits === 8 ? 'vst.s8' : 'vst.s16';
  const out: string[] = [
    `; requant: y[${n}] (int${bits}) = sat${bits}(rne(x[i] * ${multiplier} / 2^${shift})), x int32`,
    `; chunks of ${chunk} elements through acc (2 buffers) and spad (2 buffers); ${L} lanes`,
    '; registers: r20 multiplier, r21 shift; r1..r6 DMA operands; r9 acc pointer, r10 spad pointer, r11 vector count',
    `.buffer x,  dram, ${n * 4}`,
    `.buffer y,  dram, ${n * eb}`,
    `.buffer xa, acc,  ${2 * chunk}`,
    `.buffer ys, spad, ${2 * chunk * eb}`,
    `    li   r20, ${multiplier}`,
    `    li   r21, ${shift}`,
  ];
  const chunks = Math.ceil(n / chunk);
  const load = (c: number): void => {
    const c0 = c * chunk, cn = Math.min(chunk, n - c0);
    out.push(`; load chunk ${c} (elements ${c0}..${c0 + cn - 1})`);
    for (const [r, v] of [['r1', `xa + ${(c % 2) * chunk}`], ['r2', `x + ${c0 * 4}`], ['r3', 1], ['r4', cn], ['r5', 0], ['r6', 0]] as const) {
      out.push(`    li   ${r}, ${v}`);
    }
    out.push('    dma.ld acc, r1, r2, r3, r4, r5, r6');
  };
  load(0);
  for (let c = 0; c < chunks; c++) {
    const c0 = c * chunk, cn = Math.min(chunk, n - c0);
    if (c + 1 < chunks) load(c + 1);
    const full = Math.floor(cn / L), tail = cn - full * L;
    out.push(`; chunk ${c}: ${full} full vector${full === 1 ? '' : 's'}${tail ? ` and a tail of ${tail}` : ''}`);
    out.push(`    li   r9, xa + ${(c % 2) * chunk}`);
    out.push(`    li   r10, ys + ${(c % 2) * chunk * eb}`);
    if (full > 0) {
      out.push(`    li   r12, ${L}`, '    vsetvl r12, r12', `    li   r11, ${full}`);
      out.push(`c${c}_loop:`);
      out.push(`    vld.acc v1, r9, ${L}`);
      out.push(`    vmulr.vx v2, v1, r20, r21, rne, ${sat}`);
      out.push(`    ${vst} v2, r10, ${L * eb}`);
      out.push(`    dbnz r11, c${c}_loop`);
    }
    if (tail > 0) {
      out.push(`    li   r12, ${tail}`, '    vsetvl r12, r12');
      out.push(`    vld.acc v1, r9, ${tail}`);
      out.push(`    vmulr.vx v2, v1, r20, r21, rne, ${sat}`);
      out.push(`    ${vst} v2, r10, ${tail * eb}`);
    }
    out.push(`; store chunk ${c}`);
    for (const [r, v] of [['r1', `ys + ${(c % 2) * chunk * eb}`], ['r2', `y + ${c0 * eb}`], ['r3', 1], ['r4', cn * eb], ['r5', 0], ['r6', 0]] as const) {
      out.push(`    li   ${r}, ${v}`);
    }
    out.push('    dma.st spad, r1, r2, r3, r4, r5, r6');
  }
  out.push('    halt');
  return { source: out.join('\n') + '\n', file: `requant_${n}_${bits}.s` };
}
