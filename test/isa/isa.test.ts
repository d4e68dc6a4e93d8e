// The ISA table and everything derived from it: table completeness (semantics, timing class, unit, field
// budget), non-overlapping strict encodings, the encode/decode/disassemble/assemble round trip for every
// row, the assembler's directives and expressions, and diagnostics (every error of a file, line:col, caret).
import { describe, expect, it } from 'vitest';
import { assemble, type Program } from '../../isa/asm.js';
import { AsmError, DIAGNOSTICS, formatDiagnostic, type Diagnostic } from '../../isa/diagnostics.js';
import { disassemble } from '../../isa/disasm.js';
import { decode, decodeInto, decodeProgram, DecodeError, encode, fieldRange } from '../../isa/encoding.js';
import {
  BY_MNEMONIC, ENUMS, FIELD_KINDS, fieldBits, ISA, TIMING_CLASSES, UNITS, type FieldKind, type InstrDef,
} from '../../isa/table.js';
import { SEMANTICS } from '../../sim/exec.js';
import { seededIt } from '../seeded.js';

const FILE = 'test/isa/isa.test.ts';
type Rng = () => number;

const rit = seededIt(FILE);

const randInt = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

/** Field ranges as the table's docs state them (written out here, not taken from fieldRange). */
const RANGES: Record<FieldKind, [number, number]> = {
  sreg: [0, 31],
  vreg: [0, 31],
  imm16: [-32768, 32767],
  imm32: [-2147483648, 2147483647],
  target: [-8388608, 8388607],
  space: [0, 1],
  rmode: [0, 3],
  sat: [0, 3],
  accflag: [0, 1],
};

function randField(rng: Rng, kind: FieldKind): number {
  const [lo, hi] = RANGES[kind];
  const p = rng();
  if (p < 0.1) return lo;
  if (p < 0.2) return hi;
  if (p < 0.3 && lo < 0) return randInt(rng, -3, 3);
  return randInt(rng, lo, hi);
}

/** 64-bit word from its two halves. */
const word64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const halves = (w: bigint): [number, number] => [Number(w & 0xffffffffn), Number((w >> 32n) & 0xffffffffn)];

/** The word packed as the encoding's header comment describes: opcode in bits 0..7, fields upward in order. */
function packIndependently(def: InstrDef, values: readonly number[]): bigint {
  let w = BigInt(def.opcode);
  let pos = 8;
  def.fields.forEach((fd, i) => {
    const bits = FIELD_KINDS[fd.kind].bits;
    w |= BigInt.asUintN(bits, BigInt(values[i]!)) << BigInt(pos);
    pos += bits;
  });
  return w;
}

function asmErrors(src: string, opts: Parameters<typeof assemble>[1] = {}): readonly Diagnostic[] {
  try {
    assemble(src, opts);
  } catch (e) {
    if (e instanceof AsmError) return e.diagnostics;
    throw e;
  }
  throw new Error('expected the assembler to report errors, but it accepted the source');
}

function decodeAt(p: Program, pc: number): { mnemonic: string; values: number[] } {
  const d = decode(p.words[2 * pc]!, p.words[2 * pc + 1]!);
  return { mnemonic: d.def.mnemonic, values: d.values };
}

describe('the ISA table', () => {
  it('has at least the documented core rows', () => {
    for (const m of ['nop', 'halt', 'li', 'add', 'dbnz', 'dma.ld', 'dma.st', 'mxu.wload', 'mxu.mm', 'vld.acc', 'vmulr.vx', 'vmulr.vv']) {
      expect(BY_MNEMONIC.has(m), m).toBe(true);
    }
  });

  it.each(ISA.map((d) => [d.mnemonic, d] as const))('row %s is complete', (_name, def) => {
    expect(def.semantics.trim().length).toBeGreaterThan(0);
    expect(def.doc.trim().length).toBeGreaterThan(0);
    expect(Object.keys(TIMING_CLASSES)).toContain(def.timing);
    expect(UNITS as readonly string[]).toContain(def.unit);
    expect(fieldBits(def)).toBeLessThanOrEqual(56);
    expect(typeof SEMANTICS[def.mnemonic]).toBe('function');
    const names = def.fields.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    for (const f of def.fields) expect(Object.keys(FIELD_KINDS)).toContain(f.kind);
  });

  it('fieldBits adds the field widths', () => {
    const dma = BY_MNEMONIC.get('dma.ld')!;
    expect(fieldBits(dma)).toBe(2 + 6 * 5);
    const addi = BY_MNEMONIC.get('addi')!;
    expect(fieldBits(addi)).toBe(5 + 5 + 32);
    expect(fieldBits(BY_MNEMONIC.get('nop')!)).toBe(0);
  });

  it('SEMANTICS has no entry without a row, and mnemonics are unique', () => {
    const rows = new Set(ISA.map((d) => d.mnemonic));
    expect(rows.size).toBe(ISA.length);
    for (const m of Object.keys(SEMANTICS)) expect(rows.has(m), `SEMANTICS['${m}'] has no table row`).toBe(true);
    expect(Object.keys(SEMANTICS).length).toBe(ISA.length);
  });

  it('fieldRange matches the documented ranges', () => {
    for (const kind of Object.keys(FIELD_KINDS) as FieldKind[]) {
      const r = fieldRange(kind);
      expect([r.min, r.max], kind).toEqual(RANGES[kind]);
      expect(r.max - r.min + 1).toBeLessThanOrEqual(2 ** FIELD_KINDS[kind].bits);
    }
    for (const [k, names] of Object.entries(ENUMS)) expect(fieldRange(k as FieldKind).max).toBe(names.length - 1);
  });
});

describe('encoding', () => {
  it('opcodes are unique, non-zero and fit 8 bits', () => {
    const ops = ISA.map((d) => d.opcode);
    expect(new Set(ops).size).toBe(ops.length);
    for (const o of ops) {
      expect(o).toBeGreaterThan(0);
      expect(o).toBeLessThan(256);
    }
  });

  rit('a whole program decodes as its instructions one by one: repeated words, bad words, past the table', (rng) => {
    const S = 8;
    // programs of few distinct words (mostly repeats), of bad words among good ones, and of more distinct words
    // than the table holds (2^13 entries used at most)
    for (const [n, distinct] of [[3000, 40], [500, 500], [70000, 70000]] as const) {
      const pool: [number, number][] = [];
      for (let i = 0; i < distinct; i++) {
        if (i % 17 === 5) pool.push([0x00, randInt(rng, 0, 0xffff)]); // opcode 0: no row
        else if (i % 23 === 7) pool.push([(encode(ISA[0]!, ISA[0]!.fields.map((f) => randField(rng, f.kind)))[0] >>> 0), 0xffffffff]); // bits set beyond the fields
        else {
          const def = ISA[randInt(rng, 0, ISA.length - 1)]!;
          pool.push(encode(def, def.fields.map((f) => randField(rng, f.kind))));
        }
      }
      const words = new Uint32Array(2 * n);
      for (let pc = 0; pc < n; pc++) {
        const [lo, hi] = pool[distinct === n ? pc : randInt(rng, 0, distinct - 1)]!;
        words[2 * pc] = lo;
        words[2 * pc + 1] = hi;
      }
      const d = decodeProgram(words, S);
      const wantOpc = new Uint8Array(n), wantFields = new Int32Array(n * S), wantErrors = new Map<number, string>();
      for (let pc = 0; pc < n; pc++) {
        try {
          wantOpc[pc] = decodeInto(words[2 * pc]!, words[2 * pc + 1]!, wantFields, pc * S).opcode;
        } catch (e) {
          wantErrors.set(pc, (e as Error).message);
        }
      }
      expect(wantErrors.size).toBeGreaterThan(0);
      expect(d.errors).toEqual(wantErrors);
      expect(d.opc).toEqual(wantOpc);
      // every decoded pc's row holds its own word's values (all slots: decodeInto leaves the unused ones 0)
      for (let pc = 0; pc < n; pc++) {
        if (wantErrors.has(pc)) continue;
        expect([...d.fields.subarray(d.fieldAt[pc]!, d.fieldAt[pc]! + S)], `pc ${pc}`).toEqual([...wantFields.subarray(pc * S, pc * S + S)]);
      }
      // one row per distinct good word while the table has room
      if (distinct < n) expect(d.fields.length).toBeLessThan(n * S);
    }
  });

  rit('decode of encode returns the same row and values for every row', (rng) => {
    for (const def of ISA) {
      for (let t = 0; t < 200; t++) {
        const values = def.fields.map((f) => randField(rng, f.kind));
        const [lo, hi] = encode(def, values);
        expect(Number.isInteger(lo) && lo >= 0 && lo < 2 ** 32).toBe(true);
        expect(Number.isInteger(hi) && hi >= 0 && hi < 2 ** 32).toBe(true);
        expect(word64(lo, hi), `${def.mnemonic} ${values.join(',')}`).toBe(packIndependently(def, values));
        const d = decode(lo, hi);
        expect(d.def.mnemonic).toBe(def.mnemonic);
        expect(d.values).toEqual(values);
      }
    }
  });

  rit('every decodable word is the canonical encoding of exactly one row', (rng) => {
    // Random field bits under a valid opcode, unused bits zero: either a strict DecodeError (bad enum) or
    // a decode whose re-encoding is the same word, so no two (row, values) pairs share a word.
    let checked = 0;
    for (let t = 0; t < 20000; t++) {
      const def = ISA[randInt(rng, 0, ISA.length - 1)]!;
      let w = BigInt(def.opcode);
      let pos = 8;
      for (const f of def.fields) {
        const bits = FIELD_KINDS[f.kind].bits;
        w |= BigInt(randInt(rng, 0, 2 ** bits - 1)) << BigInt(pos);
        pos += bits;
      }
      const [lo, hi] = halves(w);
      let d;
      try {
        d = decode(lo, hi);
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
        continue;
      }
      expect(d.def.opcode).toBe(def.opcode);
      expect(word64(...encode(d.def, d.values))).toBe(w);
      checked++;
    }
    expect(checked).toBeGreaterThan(15000);
  });

  rit('non-zero unused high bits are a DecodeError for every row', (rng) => {
    for (const def of ISA) {
      const used = 8 + fieldBits(def);
      const values = def.fields.map((f) => randField(rng, f.kind));
      const base = word64(...encode(def, values));
      for (let t = 0; t < 8; t++) {
        const bit = randInt(rng, used, 63);
        const [lo, hi] = halves(base | (1n << BigInt(bit)));
        expect(() => decode(lo, hi), `${def.mnemonic} bit ${bit}`).toThrow(DecodeError);
      }
      const [lo, hi] = halves(base | (1n << 63n));
      expect(() => decode(lo, hi)).toThrow(DecodeError);
    }
  });

  it('unknown opcodes are a DecodeError', () => {
    expect(() => decode(0, 0)).toThrow(DecodeError);
    expect(() => decode(0xff, 0)).toThrow(DecodeError);
    expect(() => decode(0xffffffff, 0xffffffff)).toThrow(DecodeError);
    const unused = Array.from({ length: 256 }, (_, i) => i).filter((o) => !ISA.some((d) => d.opcode === o));
    expect(unused).toContain(0);
    expect(unused).toContain(255);
    for (const o of unused) expect(() => decode(o, 0), `opcode ${o}`).toThrow(DecodeError);
  });

  it('out-of-range enum values are a DecodeError', () => {
    let cases = 0;
    for (const def of ISA) {
      def.fields.forEach((f, i) => {
        const names = (ENUMS as Record<string, readonly string[]>)[f.kind];
        if (!names) return;
        for (let bad = names.length; bad < 2 ** FIELD_KINDS[f.kind].bits; bad++) {
          const values: number[] = def.fields.map((g) => (g.kind === 'sreg' || g.kind === 'vreg' ? 1 : 0));
          values[i] = bad;
          const [lo, hi] = halves(packIndependently(def, values));
          expect(() => decode(lo, hi), `${def.mnemonic} ${f.name}=${bad}`).toThrow(DecodeError);
          cases++;
        }
      });
    }
    // dma.ld and dma.st: space 2 and 3.
    expect(cases).toBeGreaterThanOrEqual(4);
  });

  it('encode rejects out-of-range values and wrong operand counts', () => {
    const li = BY_MNEMONIC.get('li')!;
    expect(() => encode(li, [32, 0])).toThrow(RangeError);
    expect(() => encode(li, [1, 2 ** 31])).toThrow(RangeError);
    expect(() => encode(li, [1])).toThrow(RangeError);
    expect(() => encode(li, [1, 0.5])).toThrow(RangeError);
  });
});

describe('round trip: encode -> decode -> disassemble -> assemble', () => {
  rit('reproduces the words for random values of every row', (rng) => {
    const nop = BY_MNEMONIC.get('nop')!;
    const N = 8;
    for (const def of ISA) {
      for (let t = 0; t < 30; t++) {
        const at = randInt(rng, 0, N - 1);
        const values = def.fields.map((f) => (f.kind === 'target' ? randInt(rng, 0, N) - at : randField(rng, f.kind)));
        const words = new Uint32Array(2 * N);
        for (let pc = 0; pc < N; pc++) {
          const [lo, hi] = pc === at ? encode(def, values) : encode(nop, []);
          words[2 * pc] = lo;
          words[2 * pc + 1] = hi;
        }
        const d = decode(words[2 * at]!, words[2 * at + 1]!);
        expect(d.def).toBe(def);
        expect(d.values).toEqual(values);
        const dis = disassemble(words);
        expect(dis.lines).toHaveLength(N);
        expect(dis.lines.every((l) => l.error === undefined)).toBe(true);
        expect(dis.lines[at]!.text.split(' ')[0]).toBe(def.mnemonic);
        const prog = assemble(dis.text, { file: 'roundtrip.s' });
        expect(Array.from(prog.words), `${def.mnemonic} ${values.join(', ')}\n${dis.text}`).toEqual(Array.from(words));
      }
    }
  });

  it('an undecodable word disassembles to a comment with the reason', () => {
    const words = new Uint32Array([...encode(BY_MNEMONIC.get('nop')!, []), 0xee, 0]);
    const dis = disassemble(words);
    expect(dis.lines[1]!.error).toMatch(/opcode/);
    expect(dis.lines[1]!.text.startsWith(';')).toBe(true);
    // The text still assembles (the bad word is a comment), to the one good instruction.
    expect(assemble(dis.text).words.length).toBe(2);
  });
});

describe('assembler', () => {
  it('resolves labels forward and backward, including one at the end of the program', () => {
    const src = [
      'start:',
      '    li r1, 3',
      'loop: addi r1, r1, -1',
      '    bne r1, zero, loop',
      '    jmp end',
      '    nop',
      'end:',
    ].join('\n');
    const p = assemble(src);
    expect(p.labels.get('start')).toBe(0);
    expect(p.labels.get('loop')).toBe(1);
    expect(p.labels.get('end')).toBe(5);
    expect(p.words.length).toBe(10);
    expect(Array.from(p.lines)).toEqual([2, 3, 4, 5, 6]);
    // Targets are pc-relative in the word: bne at pc 2 -> 1 is -1, jmp at pc 3 -> 5 is +2.
    expect(decodeAt(p, 2)).toEqual({ mnemonic: 'bne', values: [1, 0, -1] });
    expect(decodeAt(p, 3)).toEqual({ mnemonic: 'jmp', values: [2] });
    expect(decodeAt(p, 1)).toEqual({ mnemonic: 'addi', values: [1, 1, -1] });
  });

  it('.equ defines constants usable in later expressions and operands', () => {
    const p = assemble('.equ N, 4 * 8\n.equ M, N + 1\n li r2, M\n li r3, N * -2');
    expect(p.consts.get('N')).toBe(32);
    expect(p.consts.get('M')).toBe(33);
    expect(decodeAt(p, 0).values).toEqual([2, 33]);
    expect(decodeAt(p, 1).values).toEqual([3, -64]);
  });

  it('.param takes its default, or the supplied value', () => {
    const src = '.param T, 7\n li r1, T';
    expect(assemble(src).consts.get('T')).toBe(7);
    expect(decodeAt(assemble(src), 0).values).toEqual([1, 7]);
    const p = assemble(src, { params: { T: 9 } });
    expect(p.consts.get('T')).toBe(9);
    expect(decodeAt(p, 0).values).toEqual([1, 9]);
    // A parameter without default, supplied.
    expect(assemble('.param U\n li r1, U + 1', { params: { U: -5 } }).consts.get('U')).toBe(-5);
  });

  it('.param without default and unsupplied is E013; a supplied unknown parameter is E014', () => {
    const d13 = asmErrors('nop\n.param U\n li r1, U', { file: 'p.s' });
    expect(d13.map((d) => d.code)).toContain('E013');
    const e13 = d13.find((d) => d.code === 'E013')!;
    expect([e13.line, e13.col]).toEqual([2, 8]);
    expect(e13.message).toContain("'U'");
    const d14 = asmErrors('.param T, 1\n li r1, T', { params: { T: 2, Z: 3 } });
    expect(d14.map((d) => d.code)).toEqual(['E014']);
    expect(d14[0]!.message).toContain("'Z'");
  });

  it('.buffer allocates per space with default alignment dram 64, spad 16, acc 1', () => {
    const src = [
      '.buffer a, dram, 10',
      '.buffer s1, spad, 3',
      '.buffer b, dram, 1',
      '.buffer c1, acc, 3',
      '.buffer s2, spad, 5',
      '.buffer c2, acc, 2',
      '.buffer d, dram, 4, 256',
      '.buffer s3, spad, 0x20, 3',
      '    li r1, b + 1',
      '    li r2, s2',
    ].join('\n');
    const p = assemble(src);
    const addr = (n: string): [string, number, number] => {
      const b = p.buffers.get(n)!;
      return [b.space, b.address, b.size];
    };
    expect(addr('a')).toEqual(['dram', 0, 10]);
    expect(addr('b')).toEqual(['dram', 64, 1]);
    expect(addr('d')).toEqual(['dram', 256, 4]);
    expect(addr('s1')).toEqual(['spad', 0, 3]);
    expect(addr('s2')).toEqual(['spad', 16, 5]);
    expect(addr('s3')).toEqual(['spad', 21, 32]); // 21 is a multiple of the explicit alignment 3
    expect(addr('c1')).toEqual(['acc', 0, 3]);
    expect(addr('c2')).toEqual(['acc', 3, 2]);
    expect(p.allocated).toEqual({ dram: 260, spad: 53, acc: 5 });
    expect(p.buffers.get('s2')!.line).toBe(5);
    expect(decodeAt(p, 0).values).toEqual([1, 65]);
    expect(decodeAt(p, 1).values).toEqual([2, 16]);
  });

  it('.buffer past the capacity is E011 naming the buffer and the byte counts; an exact fit is fine', () => {
    const ok = assemble('.buffer s1, spad, 90\n.buffer s2, spad, 4', { capacity: { spad: 100 } });
    expect(ok.buffers.get('s2')!.address).toBe(96);
    const d = asmErrors('.buffer s1, spad, 90\n.buffer s2, spad, 20\n.buffer ok, dram, 1000', { capacity: { spad: 100, dram: 1000 } });
    expect(d.map((x) => x.code)).toEqual(['E011']);
    expect([d[0]!.line, d[0]!.col]).toEqual([2, 9]);
    expect(d[0]!.message).toContain("'s2'");
    expect(d[0]!.message).toContain('20 bytes');
    expect(d[0]!.message).toContain('100 bytes');
    expect(d[0]!.message).toContain('16 over');
  });

  it('evaluates expressions with C precedence, floor division and number formats', () => {
    const cases: [string, number][] = [
      ['1 + 2 * 3', 7],
      ['(1 + 2) * 3', 9],
      ['-7 / 2', -4],
      ['7 / -2', -4],
      ['-7 % 2', 1],
      ['7 % -2', -1],
      ['-8 / 2', -4],
      ['0x10 + 0b101 + 1_000', 1021],
      ['0xFF_FF', 65535],
      ['0b1111_0000', 240],
      ['1 << 4 + 1', 32],
      ['6 & 3 | 8', 10],
      ['1 | 6 ^ 3', 5],
      ['12 & 10 ^ 1', 9],
      ['~0', -1],
      ['-2 * -3', 6],
      ['-7 >> 1', -4],
      ['((2))', 2],
      ['10 - 3 - 2', 5],
      ['100 / 10 / 5', 2],
      ['2 * (3 + 4) - -1', 15],
    ];
    const src = cases.map(([e], i) => `.equ E${i}, ${e}`).join('\n');
    const p = assemble(src);
    cases.forEach(([e, want], i) => expect(p.consts.get(`E${i}`), e).toBe(want));
  });

  it('strips ; # and // comments', () => {
    const p = assemble('; only a comment\n nop ; a\n nop # b\n nop // c\n# another\n// and another\n   \n li r1, 5 ; li r2, 6');
    expect(p.words.length / 2).toBe(4);
    expect(decodeAt(p, 3).values).toEqual([1, 5]);
  });

  it('accepts zero for r0 and mnemonics, registers and enums in any case', () => {
    const p = assemble('ADD R1, zero, r2\n Vld.S8 V3, R4, 2\n DMA.LD ACC, r1, r2, r3, r4, r5, r6\n vmulr.vx v1, v2, r3, r4, RNE, Sat8\n add r5, ZERO, zero');
    expect(decodeAt(p, 0)).toEqual({ mnemonic: 'add', values: [1, 0, 2] });
    expect(decodeAt(p, 1)).toEqual({ mnemonic: 'vld.s8', values: [3, 4, 2] });
    expect(decodeAt(p, 2)).toEqual({ mnemonic: 'dma.ld', values: [1, 1, 2, 3, 4, 5, 6] });
    expect(decodeAt(p, 3)).toEqual({ mnemonic: 'vmulr.vx', values: [1, 2, 3, 4, 1, 1] });
    expect(decodeAt(p, 4)).toEqual({ mnemonic: 'add', values: [5, 0, 0] });
  });
});

describe('diagnostics', () => {
  // One error per line; [code, line, col, offending text].
  const LINES = [
    '; several errors, one per line', //  1
    'start: nop', //  2
    '    frob r1, r2', //  3 E001
    '    add r1, r2', //  4 E002
    '    add r1, 5, r2', //  5 E003
    '    add r1, r32, r2', //  6 E004
    '    li r1, 2147483648', //  7 E005 (imm32)
    '    vld.s8 v1, r1, 32768', //  8 E005 (imm16)
    '    li r2, nosuch + 1', //  9 E006
    'start: nop', // 10 E007
    '    li r3, 1 + * 2', // 11 E008
    '    mxu.mm r1, r2, r3, r4, r5, maybe', // 12 E010
    '    jmp 100', // 13 E012
    'lbl:  bogus r1', // 14 E001 after a label
    '    vadd v1, v2, r3', // 15 E003 (vector register)
    '    li r4, 2147483647', // 16 fine
    '    vld.s8 v1, r1, 32767', // 17 fine
    '    vld.s8 v1, r1, -32768', // 18 fine
    '    vld.s8 v1, r1, -32769', // 19 E005
    '    li r1, -2147483649', // 20 E005
    '    li r1, -2147483648', // 21 fine
    '    halt', // 22
  ];
  const EXPECTED: [string, number, number, string][] = [
    ['E001', 3, 5, 'frob'],
    ['E002', 4, 5, 'add'],
    ['E003', 5, 13, '5'],
    ['E004', 6, 13, 'r32'],
    ['E005', 7, 12, '2147483648'],
    ['E005', 8, 20, '32768'],
    ['E006', 9, 12, 'nosuch'],
    ['E007', 10, 1, 'start'],
    ['E008', 11, 16, '*'],
    ['E010', 12, 32, 'maybe'],
    ['E012', 13, 9, '100'],
    ['E001', 14, 7, 'bogus'],
    ['E003', 15, 18, 'r3'],
    ['E005', 19, 20, '-32769'],
    ['E005', 20, 12, '-2147483649'],
  ];
  const SRC = LINES.join('\n');

  it('reports every error of the file with its code, line and column', () => {
    const diags = asmErrors(SRC, { file: 'programs/bad.s' });
    expect(diags.map((d) => [d.code, d.line, d.col])).toEqual(EXPECTED.map(([c, l, col]) => [c, l, col]));
    for (const [code, line, col, text] of EXPECTED) {
      // Cross-check the hand-placed column against the source text itself.
      expect(LINES[line - 1]!.indexOf(text) + 1, `${code} on line ${line}`).toBe(col);
    }
    for (const d of diags) expect(Object.keys(DIAGNOSTICS)).toContain(d.code);
  });

  it('formats file:line:col: error[Ecode]:, the source line and a caret under the span', () => {
    const diags = asmErrors(SRC, { file: 'programs/bad.s' });
    for (const [i, d] of diags.entries()) {
      const [code, line, col, text] = EXPECTED[i]!;
      const out = formatDiagnostic(d).split('\n');
      expect(out[0]).toMatch(new RegExp(`^programs/bad\\.s:${line}:${col}: error\\[${code}\\]: \\S`));
      const src = out.find((l) => l.startsWith(`${line} | `))!;
      expect(src, `source line of ${code}`).toBe(`${line} | ${LINES[line - 1]}`);
      const caretRow = out[out.indexOf(src) + 1]!;
      const gutter = `${line} | `.length;
      expect(caretRow.slice(0, gutter)).toBe(' '.repeat(String(line).length) + ' | ');
      const carets = caretRow.slice(gutter);
      const first = carets.indexOf('^');
      expect(first, `caret column of ${code} on line ${line}`).toBe(col - 1);
      expect(carets.slice(0, first).trim()).toBe('');
      // The caret spans the offending token exactly.
      expect(carets.slice(first)).toBe('^'.repeat(text.length));
      expect(LINES[line - 1]!.slice(first, first + text.length)).toBe(text);
    }
  });

  it('AsmError.message holds every formatted diagnostic and the count', () => {
    let err: unknown;
    try {
      assemble(SRC, { file: 'bad.s' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AsmError);
    const msg = (err as AsmError).message;
    for (const [code, line, col] of EXPECTED) expect(msg).toContain(`bad.s:${line}:${col}: error[${code}]:`);
    expect(msg).toContain(`${EXPECTED.length} errors`);
  });

  it('immediate bounds: imm16 and imm32 accept exactly their ranges', () => {
    const ok = assemble('vld.s8 v1, r1, 32767\nvld.s8 v1, r1, -32768\nli r1, 2147483647\nli r1, -2147483648\naddi r1, r1, 0x7fffffff');
    expect(decodeAt(ok, 0).values[2]).toBe(32767);
    expect(decodeAt(ok, 1).values[2]).toBe(-32768);
    expect(decodeAt(ok, 2).values[1]).toBe(2147483647);
    expect(decodeAt(ok, 3).values[1]).toBe(-2147483648);
    for (const bad of ['vld.s8 v1, r1, 32768', 'vst.acc v1, r1, -32769', 'li r1, 0x80000000', 'addi r1, r1, -2147483649']) {
      const d = asmErrors(bad);
      expect(d.map((x) => x.code), bad).toEqual(['E005']);
    }
  });

  it('branch targets: the end of the program is fine, outside is E012', () => {
    expect(() => assemble('jmp 2\nnop')).not.toThrow();
    expect(asmErrors('jmp 3\nnop').map((d) => d.code)).toEqual(['E012']);
    expect(asmErrors('nop\njmp -1').map((d) => d.code)).toEqual(['E012']);
    expect(asmErrors('beq r1, r2, far\nnop').map((d) => d.code)).toEqual(['E006']);
  });

  it('a bad memory space and reserved names are reported', () => {
    const d = asmErrors('.buffer q, flash, 4\n.equ r5, 1\nadd: nop');
    expect(d.map((x) => [x.code, x.line, x.col])).toEqual([['E010', 1, 12], ['E007', 2, 6], ['E007', 3, 1]]);
  });
});
