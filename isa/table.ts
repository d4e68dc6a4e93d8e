// The instruction set, as one table. Encoder, decoder, assembler, disassembler, the generated ISA
// reference (docs/ISA.md) and the round-trip tests all derive from the rows below; the simulator's
// semantics live in sim/exec.ts, one case per row, and its timing in sim/timing.ts, one case per class.

/** Operand kinds. Bit widths are what the field occupies in the 64-bit instruction word. */
export const FIELD_KINDS = {
  sreg: { bits: 5, doc: 'scalar register r0..r31 (r0 reads as 0, writes are dropped)' },
  vreg: { bits: 5, doc: 'vector register v0..v31 (one int32 per lane)' },
  imm16: { bits: 16, doc: 'signed 16-bit immediate (-32768..32767)' },
  imm32: { bits: 32, doc: 'signed 32-bit immediate (-2^31..2^31-1)' },
  target: { bits: 24, doc: 'branch target: a label, encoded pc-relative in instructions (signed 24-bit)' },
  space: { bits: 2, doc: 'on-chip memory: spad (int8 bytes) or acc (int32 words)' },
  rmode: { bits: 2, doc: 'rounding mode: floor, rne (half to even), rhaz (half away from zero), trunc (toward zero)' },
  sat: { bits: 2, doc: 'result width: wrap32 (keep low 32 bits), sat8, sat16, sat32 (saturate to signed range)' },
  accflag: { bits: 1, doc: 'ovw (overwrite the accumulator) or acc (add to it)' },
} as const;
export type FieldKind = keyof typeof FIELD_KINDS;

/** Names of enum-valued fields, in encoding order (index = encoded value). */
export const ENUMS = {
  space: ['spad', 'acc'],
  rmode: ['floor', 'rne', 'rhaz', 'trunc'],
  sat: ['wrap32', 'sat8', 'sat16', 'sat32'],
  accflag: ['ovw', 'acc'],
} as const satisfies Partial<Record<FieldKind, readonly string[]>>;
export type EnumKind = keyof typeof ENUMS;
export function isEnumKind(k: FieldKind): k is EnumKind {
  return k in ENUMS;
}

export const ROUNDING = { floor: 0, rne: 1, rhaz: 2, trunc: 3 } as const;
export const SATURATION = { wrap32: 0, sat8: 1, sat16: 2, sat32: 3 } as const;

/** Execution units. The front end dispatches to one in-order queue per unit. */
export const UNITS = ['scalar', 'dmaLoad', 'dmaStore', 'mxu', 'vpu', 'divider'] as const;
export type Unit = (typeof UNITS)[number];

/**
 * Timing classes: how sim/timing.ts prices an instruction. Every class is documented in docs/TIMING.md
 * together with the configuration fields it reads.
 */
export const TIMING_CLASSES = {
  scalar: 'one cycle in the front end; the result is ready for the next instruction',
  branch: 'one cycle; a taken branch adds frontend.takenBranchPenaltyCycles bubbles',
  halt: 'stops dispatch; the program ends when every unit has drained',
  dma: 'occupies the DRAM channel for ceil(bytes / dram.bytesPerCycle) cycles; data lands dram.latencyCycles later',
  mxuWeights: 'shifts a weight tile into the shadow buffer, one array row (k) per cycle',
  mxuStream: 'streams M input rows, one per cycle; results land mxu.rows + mxu.cols cycles after the last row enters',
  vpuAlu: 'one vector per cycle, result after vpu.aluLatencyCycles',
  vpuMul: 'one vector per cycle, result after vpu.mulLatencyCycles',
  vpuLoad: 'one vector per cycle from spad/acc, result after vpu.loadLatencyCycles',
  vpuStore: 'one vector per cycle to spad/acc, visible after one cycle',
  vpuReduce: 'one vector per cycle into the lane adder/max tree; the scalar result after vpu.reduceLatencyCycles',
  divide: 'occupies the iterative divider for divider.divLatencyCycles (not pipelined); the scalar result then',
  sqrt: 'occupies the divider datapath for divider.sqrtLatencyCycles (not pipelined); the scalar result then',
} as const;
export type TimingClass = keyof typeof TIMING_CLASSES;

export interface FieldDef {
  readonly name: string;
  readonly kind: FieldKind;
}

export interface InstrDef {
  readonly mnemonic: string;
  readonly opcode: number;
  readonly fields: readonly FieldDef[];
  readonly unit: Unit;
  readonly timing: TimingClass;
  /** Exact semantics: widths, rounding, overflow. Rendered into docs/ISA.md. */
  readonly semantics: string;
  readonly doc: string;
}

const f = (name: string, kind: FieldKind): FieldDef => ({ name, kind });
const rd = f('rd', 'sreg');
const rs1 = f('rs1', 'sreg');
const rs2 = f('rs2', 'sreg');
const vd = f('vd', 'vreg');
const va = f('va', 'vreg');
const vb = f('vb', 'vreg');

type Row = Omit<InstrDef, 'opcode'>;

// Scalar ALU rows share one shape: rd = op(rs1, rs2) on int32, wrapping.
function alu(mnemonic: string, expr: string, doc: string): Row {
  return { mnemonic, fields: [rd, rs1, rs2], unit: 'scalar', timing: 'scalar', semantics: `rd = ${expr}`, doc };
}
function branch(mnemonic: string, cond: string, doc: string): Row {
  return {
    mnemonic, fields: [rs1, rs2, f('target', 'target')], unit: 'scalar', timing: 'branch',
    semantics: `if (${cond}) pc = target (signed int32 comparison)`, doc,
  };
}
function vv(mnemonic: string, expr: string, timing: TimingClass, doc: string): Row {
  return { mnemonic, fields: [vd, va, vb], unit: 'vpu', timing, semantics: `for i < vl: vd[i] = ${expr}`, doc };
}
function vx(mnemonic: string, expr: string, timing: TimingClass, doc: string): Row {
  return {
    mnemonic, fields: [vd, va, rs1], unit: 'vpu', timing,
    semantics: `for i < vl: vd[i] = ${expr} (rs1 read at dispatch)`, doc,
  };
}
function vload(mnemonic: string, space: string, elem: string, doc: string): Row {
  return {
    mnemonic, fields: [vd, rs1, f('inc', 'imm16')], unit: 'vpu', timing: 'vpuLoad',
    semantics: `for i < vl: vd[i] = sext(${space}.${elem}[rs1 + i]); then rs1 = rs1 + inc (at dispatch); lanes >= vl unchanged`,
    doc,
  };
}
function vstore(mnemonic: string, space: string, elem: string, doc: string): Row {
  return {
    mnemonic, fields: [f('vs', 'vreg'), rs1, f('inc', 'imm16')], unit: 'vpu', timing: 'vpuStore',
    semantics: `for i < vl: ${space}.${elem}[rs1 + i] = low bits of vs[i] (wraps; saturate first with vmulr/vclamp); then rs1 = rs1 + inc (at dispatch)`,
    doc,
  };
}

const ROWS: readonly Row[] = [
  // ---- scalar / control ----
  { mnemonic: 'nop', fields: [], unit: 'scalar', timing: 'scalar', semantics: 'no effect', doc: 'Does nothing for one dispatch cycle.' },
  { mnemonic: 'halt', fields: [], unit: 'scalar', timing: 'halt', semantics: 'stop fetching; the run ends when all units are idle', doc: 'End of program.' },
  {
    mnemonic: 'li', fields: [rd, f('imm', 'imm32')], unit: 'scalar', timing: 'scalar',
    semantics: 'rd = imm (int32)', doc: 'Load a 32-bit immediate (a number, .equ constant or buffer address).',
  },
  {
    mnemonic: 'addi', fields: [rd, rs1, f('imm', 'imm32')], unit: 'scalar', timing: 'scalar',
    semantics: 'rd = (rs1 + imm) | 0 (wraps to int32)', doc: 'Add a 32-bit immediate.',
  },
  alu('add', '(rs1 + rs2) | 0 (wraps to int32)', 'Add.'),
  alu('sub', '(rs1 - rs2) | 0 (wraps to int32)', 'Subtract.'),
  alu('mul', 'low 32 bits of rs1 * rs2 (Math.imul, wraps)', 'Multiply, low word.'),
  alu('and', 'rs1 & rs2', 'Bitwise and.'),
  alu('or', 'rs1 | rs2', 'Bitwise or.'),
  alu('xor', 'rs1 ^ rs2', 'Bitwise xor.'),
  alu('sll', 'rs1 << (rs2 & 31) (wraps)', 'Shift left logical.'),
  alu('sra', 'rs1 >> (rs2 & 31) (arithmetic: floor division by 2^k)', 'Shift right arithmetic.'),
  alu('srl', '(rs1 >>> (rs2 & 31)) | 0', 'Shift right logical.'),
  alu('min', 'min(rs1, rs2) (signed)', 'Minimum.'),
  alu('max', 'max(rs1, rs2) (signed)', 'Maximum.'),
  alu('slt', 'rs1 < rs2 ? 1 : 0 (signed)', 'Set if less than.'),
  branch('beq', 'rs1 == rs2', 'Branch if equal.'),
  branch('bne', 'rs1 != rs2', 'Branch if not equal.'),
  branch('blt', 'rs1 < rs2', 'Branch if less than (signed).'),
  branch('bge', 'rs1 >= rs2', 'Branch if greater or equal (signed).'),
  {
    mnemonic: 'jmp', fields: [f('target', 'target')], unit: 'scalar', timing: 'branch',
    semantics: 'pc = target', doc: 'Unconditional jump.',
  },
  {
    mnemonic: 'dbnz', fields: [rs1, f('target', 'target')], unit: 'scalar', timing: 'branch',
    semantics: 'rs1 = (rs1 - 1) | 0; if (rs1 != 0) pc = target', doc: 'Decrement and branch if not zero: the loop instruction.',
  },
  {
    mnemonic: 'vsetvl', fields: [rd, rs1], unit: 'scalar', timing: 'scalar',
    semantics: 'vl = clamp(rs1, 0, vpu.lanes); rd = vl. Vector instructions dispatched afterwards use this vl',
    doc: 'Set the vector length for the following vector instructions (remainder handling).',
  },
  // ---- DMA ----
  {
    mnemonic: 'dma.ld',
    fields: [f('space', 'space'), f('chip', 'sreg'), f('dram', 'sreg'), f('rows', 'sreg'), f('len', 'sreg'), f('chipStride', 'sreg'), f('dramStride', 'sreg')],
    unit: 'dmaLoad', timing: 'dma',
    semantics:
      'for r < rows, i < len: space[chip + r*chipStride + i] = DRAM element at dram + r*dramStride + e*i, where e = 1 byte for spad (int8) ' +
      'and 4 bytes for acc (int32, little-endian). Strides: chipStride in elements, dramStride in bytes (0 repeats a row: broadcast). ' +
      'All operands read at dispatch; every address bounds-checked',
    doc: 'Strided 2-D copy DRAM -> scratchpad/accumulator.',
  },
  {
    mnemonic: 'dma.st',
    fields: [f('space', 'space'), f('chip', 'sreg'), f('dram', 'sreg'), f('rows', 'sreg'), f('len', 'sreg'), f('chipStride', 'sreg'), f('dramStride', 'sreg')],
    unit: 'dmaStore', timing: 'dma',
    semantics:
      'for r < rows, i < len: DRAM element at dram + r*dramStride + e*i = space[chip + r*chipStride + i] (e as for dma.ld; int32 little-endian for acc). ' +
      'All operands read at dispatch; every address bounds-checked',
    doc: 'Strided 2-D copy scratchpad/accumulator -> DRAM.',
  },
  // ---- MXU ----
  {
    mnemonic: 'mxu.wload', fields: [f('addr', 'sreg'), f('stride', 'sreg'), f('k', 'sreg'), f('n', 'sreg')],
    unit: 'mxu', timing: 'mxuWeights',
    semantics:
      'shadow weights W[j][kk] = spad.int8[addr + j*stride + kk] for j < n (output column), kk < k (array row); 1 <= k <= mxu.rows, ' +
      '1 <= n <= mxu.cols. Then the shadow buffer becomes the one the next mxu.mm uses (double buffering)',
    doc: 'Preload an int8 weight tile (n rows of k bytes: the [N,K] layout of a linear layer) into the MXU.',
  },
  {
    mnemonic: 'mxu.mm', fields: [f('acc', 'sreg'), f('x', 'sreg'), f('m', 'sreg'), f('accStride', 'sreg'), f('xStride', 'sreg'), f('mode', 'accflag')],
    unit: 'mxu', timing: 'mxuStream',
    semantics:
      'for r < m, j < n: s = sum_{kk<k} spad.int8[x + r*xStride + kk] * W[j][kk] (exact, < 2^31 for k <= 128); ' +
      'acc.int32[acc + r*accStride + j] = (mode == acc ? acc.int32[...] + s : s) | 0 (wraps to int32). k, n from the last mxu.wload',
    doc: 'Stream m int8 input rows through the weight-stationary array, accumulating int32 results.',
  },
  // ---- VPU ----
  vload('vld.s8', 'spad', 'int8', 'Load vl int8 elements from the scratchpad, sign-extended to int32.'),
  vload('vld.s16', 'spad', 'int16le (byte address)', 'Load vl int16 elements (little-endian) from the scratchpad, sign-extended.'),
  vload('vld.acc', 'acc', 'int32', 'Load vl int32 elements from the accumulator memory.'),
  vstore('vst.s8', 'spad', 'int8', 'Store vl lanes to the scratchpad as int8 (narrowing).'),
  vstore('vst.s16', 'spad', 'int16le (byte address)', 'Store vl lanes to the scratchpad as int16 (narrowing).'),
  vstore('vst.acc', 'acc', 'int32', 'Store vl lanes to the accumulator memory as int32.'),
  {
    mnemonic: 'vbcast', fields: [vd, rs1], unit: 'vpu', timing: 'vpuAlu',
    semantics: 'for i < vl: vd[i] = rs1', doc: 'Broadcast a scalar to all active lanes.',
  },
  vv('vadd', '(va[i] + vb[i]) | 0 (wraps)', 'vpuAlu', 'Lane-wise add.'),
  vv('vsub', '(va[i] - vb[i]) | 0 (wraps)', 'vpuAlu', 'Lane-wise subtract.'),
  vv('vmul', 'Math.imul(va[i], vb[i]) (low 32 bits, wraps)', 'vpuMul', 'Lane-wise multiply, low word.'),
  vv('vmin', 'min(va[i], vb[i])', 'vpuAlu', 'Lane-wise minimum.'),
  vv('vmax', 'max(va[i], vb[i])', 'vpuAlu', 'Lane-wise maximum.'),
  vv('vsra', 'va[i] >> (vb[i] & 31) (arithmetic, floor)', 'vpuAlu', 'Lane-wise arithmetic right shift by per-lane amounts.'),
  vv('vsll', 'va[i] << (vb[i] & 31) (wraps)', 'vpuAlu', 'Lane-wise left shift by per-lane amounts.'),
  vx('vadd.vx', '(va[i] + rs1) | 0 (wraps)', 'vpuAlu', 'Add a scalar.'),
  vx('vsub.vx', '(va[i] - rs1) | 0 (wraps)', 'vpuAlu', 'Subtract a scalar.'),
  vx('vmul.vx', 'Math.imul(va[i], rs1) (wraps)', 'vpuMul', 'Multiply by a scalar, low word.'),
  vx('vmin.vx', 'min(va[i], rs1)', 'vpuAlu', 'Minimum with a scalar.'),
  vx('vmax.vx', 'max(va[i], rs1)', 'vpuAlu', 'Maximum with a scalar.'),
  vx('vsra.vx', 'va[i] >> (rs1 & 31) (arithmetic, floor)', 'vpuAlu', 'Arithmetic right shift by a scalar amount.'),
  vx('vsll.vx', 'va[i] << (rs1 & 31) (wraps)', 'vpuAlu', 'Left shift by a scalar amount.'),
  {
    mnemonic: 'vclamp', fields: [vd, va, f('lo', 'sreg'), f('hi', 'sreg')], unit: 'vpu', timing: 'vpuAlu',
    semantics: 'for i < vl: vd[i] = min(max(va[i], lo), hi)', doc: 'Clamp every lane to [lo, hi].',
  },
  {
    mnemonic: 'vmulr.vx', fields: [vd, va, f('mul', 'sreg'), f('shift', 'sreg'), f('rmode', 'rmode'), f('sat', 'sat')],
    unit: 'vpu', timing: 'vpuMul',
    semantics:
      'for i < vl: p = va[i] * mul as an exact 64-bit product; q = round(p / 2^shift) in rounding mode rmode ' +
      '(shift 0..127, exact for every shift); vd[i] = sat(q): sat8/16/32 saturate to the signed range, wrap32 keeps the low 32 bits',
    doc: 'Widening multiply by a scalar with a rounding right shift and saturation: the requantization step.',
  },
  {
    mnemonic: 'vmulr.vv', fields: [vd, va, vb, f('vs', 'vreg'), f('rmode', 'rmode'), f('sat', 'sat')],
    unit: 'vpu', timing: 'vpuMul',
    semantics:
      'for i < vl: p = va[i] * vb[i] as an exact 64-bit product; q = round(p / 2^(vs[i])) in rounding mode rmode (vs[i] in 0..127, ' +
      'else fault); vd[i] = sat(q) as for vmulr.vx',
    doc: 'Widening multiply with per-lane multipliers and shifts (per-channel requantization).',
  },
  // ---- additions for the I-BERT kernels (issue 4) ----
  {
    mnemonic: 'vmacr', fields: [vd, va, vb, f('vc', 'vreg'), f('shift', 'sreg'), f('rmode', 'rmode'), f('sat', 'sat')],
    unit: 'vpu', timing: 'vpuMul',
    semantics:
      'for i < vl: p = va[i] * vb[i] + vc[i] as an exact 64-bit value (vc sign-extended); q = round(p / 2^shift) in rounding mode ' +
      'rmode (shift 0..127, scalar, read at dispatch); vd[i] = sat(q) as for vmulr.vx',
    doc: 'Widening multiply-add with a rounding right shift: 64-bit intermediates (i-GELU polynomial, fused requantization).',
  },
  {
    mnemonic: 'vabs', fields: [vd, va], unit: 'vpu', timing: 'vpuAlu',
    semantics: 'for i < vl: vd[i] = |va[i]| (wraps: |-2^31| = -2^31)', doc: 'Lane-wise absolute value.',
  },
  {
    mnemonic: 'vsgn', fields: [vd, va], unit: 'vpu', timing: 'vpuAlu',
    semantics: 'for i < vl: vd[i] = sign(va[i]) in {-1, 0, 1}', doc: 'Lane-wise sign.',
  },
  vv('vslt', 'va[i] < vb[i] ? 1 : 0 (signed)', 'vpuAlu', 'Lane-wise compare: set if less than.'),
  vv('vseq', 'va[i] == vb[i] ? 1 : 0', 'vpuAlu', 'Lane-wise compare: set if equal.'),
  {
    mnemonic: 'vsel', fields: [vd, f('vm', 'vreg'), va, vb], unit: 'vpu', timing: 'vpuAlu',
    semantics: 'for i < vl: vd[i] = vm[i] != 0 ? va[i] : vb[i]', doc: 'Lane-wise select by a mask register.',
  },
  {
    mnemonic: 'vredsum', fields: [rd, va], unit: 'vpu', timing: 'vpuReduce',
    semantics: 'rd = (sum of va[i] for i < vl) | 0 (exact sum, then wraps to int32); rd is written when the reduction completes',
    doc: 'Sum of the active lanes into a scalar register.',
  },
  {
    mnemonic: 'vredmax', fields: [rd, va], unit: 'vpu', timing: 'vpuReduce',
    semantics: 'rd = max of va[i] for i < vl (signed; INT32_MIN when vl = 0); rd is written when the reduction completes',
    doc: 'Maximum of the active lanes into a scalar register.',
  },
  {
    mnemonic: 'vredsum.w', fields: [rd, va], unit: 'vpu', timing: 'vpuReduce',
    semantics:
      'S = (rd+1:rd) + sum of va[i] for i < vl, exact 64-bit; rd = low 32 bits (as int32), rd+1 = high 32 bits (signed). ' +
      'Accumulates into the pair: clear it first (rd <= 30; r0 as rd faults)',
    doc: 'Accumulate the lane sum into a 64-bit scalar register pair (rd low word, rd+1 high word).',
  },
  {
    mnemonic: 'vredsumsq.w', fields: [rd, va], unit: 'vpu', timing: 'vpuReduce',
    semantics:
      'S = (rd+1:rd) + sum of va[i]^2 for i < vl, exact 64-bit (faults if |S| >= 2^63); rd = low word, rd+1 = high word, as vredsum.w',
    doc: 'Accumulate the sum of squares of the lanes into a 64-bit scalar pair (LayerNorm variance).',
  },
  {
    mnemonic: 'div', fields: [rd, rs1, rs2, f('rmode', 'rmode')], unit: 'divider', timing: 'divide',
    semantics: 'rd = round(rs1 / rs2) in rounding mode rmode, exact rational division of int32 values; saturates to int32 (only -2^31 / -1); rs2 == 0 faults; faults if the machine has no divider',
    doc: 'Scalar integer division on the iterative divider.',
  },
  {
    mnemonic: 'div.w', fields: [rd, rs1, rs2, f('rmode', 'rmode')], unit: 'divider', timing: 'divide',
    semantics: 'rd = sat32(round((rs1+1:rs1) / rs2)) in rounding mode rmode: 64-bit dividend in the pair (rs1 low word, rs1+1 high word), int32 divisor; rs2 == 0 faults',
    doc: 'Division of a 64-bit register pair by an int32 (e.g. floor(2^32 / sum), the mean of a 64-bit sum).',
  },
  {
    mnemonic: 'isqrt.w', fields: [rd, rs1], unit: 'divider', timing: 'sqrt',
    semantics: 'rd = floor(sqrt((rs1+1:rs1))) for a non-negative 64-bit pair below 2^62 (result < 2^31); a negative pair faults',
    doc: 'Integer square root of a 64-bit register pair (LayerNorm standard deviation).',
  },
  {
    mnemonic: 'mxu.mm.u8', fields: [f('acc', 'sreg'), f('x', 'sreg'), f('m', 'sreg'), f('accStride', 'sreg'), f('xStride', 'sreg'), f('mode', 'accflag')],
    unit: 'mxu', timing: 'mxuStream',
    semantics: 'as mxu.mm, but the input rows are read as unsigned bytes (0..255): softmax probabilities times V',
    doc: 'Stream unsigned 8-bit input rows through the array (uint8 x int8 -> int32).',
  },
  {
    mnemonic: 'mxu.wload.t', fields: [f('addr', 'sreg'), f('stride', 'sreg'), f('k', 'sreg'), f('n', 'sreg')],
    unit: 'mxu', timing: 'mxuWeights',
    semantics: 'as mxu.wload, but transposed: W[j][kk] = spad.int8[addr + kk*stride + j] (k rows of n bytes: a [K,N] layout such as V in P.V)',
    doc: 'Preload an int8 weight tile stored K-major ([K,N] layout) into the MXU.',
  },
];

/** The table, with opcodes assigned in row order (opcode 0 is reserved as invalid). */
export const ISA: readonly InstrDef[] = ROWS.map((r, i) => ({ ...r, opcode: i + 1 }));

export const BY_MNEMONIC: ReadonlyMap<string, InstrDef> = new Map(ISA.map((d) => [d.mnemonic, d]));
export const BY_OPCODE: ReadonlyMap<number, InstrDef> = new Map(ISA.map((d) => [d.opcode, d]));

/** Bits available for fields after the 8-bit opcode in a 64-bit word. */
export const OPCODE_BITS = 8;
export const WORD_BITS = 64;

export function fieldBits(def: InstrDef): number {
  return def.fields.reduce((s, fd) => s + FIELD_KINDS[fd.kind].bits, 0);
}
