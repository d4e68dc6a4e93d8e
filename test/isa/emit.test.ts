// The typed emitter (isa/emit.ts): operands checked at the call, labels resolved, buffers allocated as the
// assembler does, and a listing that `intnpu asm` turns back into the same words and buffer addresses, for
// hand-made programs and for the word-built kernel programs (linear both loop orders, linear-requant).
import { describe, expect, it } from 'vitest';
import { assemble, type Program } from '../../isa/asm.js';
import { AsmError } from '../../isa/diagnostics.js';
import { checkCapacity, EmitError, FIELD_SLOTS, predecoded, programListing, ProgramEmitter } from '../../isa/emit.js';
import { decodeInto } from '../../isa/encoding.js';
import { buildLinear } from '../../programs/linear/build.js';
import { buildLinearRequant } from '../../programs/linear-requant/build.js';
import { loadMachine } from '../../sim/config.js';

/** The emitter's decoded form equals decoding its words (what the simulator's loader would otherwise do). */
function expectPredecoded(p: Program): void {
  const pre = predecoded(p.words);
  expect(pre).toBeDefined();
  const n = p.words.length >> 1;
  const opc = new Uint8Array(n), fields = new Int32Array(n * FIELD_SLOTS);
  for (let pc = 0; pc < n; pc++) opc[pc] = decodeInto(p.words[2 * pc]!, p.words[2 * pc + 1]!, fields, pc * FIELD_SLOTS).opcode;
  expect(Array.from(pre!.opc)).toEqual(Array.from(opc));
  expect(Array.from(pre!.fields)).toEqual(Array.from(fields));
}

function expectSameProgram(emitted: Program, listing: string): void {
  expectPredecoded(emitted);
  const re = assemble(listing, { file: emitted.file });
  expect(Array.from(re.words)).toEqual(Array.from(emitted.words));
  expect([...re.buffers.values()].map((b) => [b.name, b.space, b.address, b.size, b.line]))
    .toEqual([...emitted.buffers.values()].map((b) => [b.name, b.space, b.address, b.size, b.line]));
  expect(Array.from(re.lines)).toEqual(Array.from(emitted.lines));
}

describe('ProgramEmitter', () => {
  it('emits the words the assembler gives for the same text, with labels and buffers', () => {
    const e = new ProgramEmitter('loop.s');
    e.comment('a loop');
    const a = e.buffer('a', 'dram', 100);
    const s = e.buffer('s', 'spad', 7);
    const t = e.buffer('t', 'spad', 5);
    const acc = e.buffer('acc0', 'acc', 3);
    e.li(1, 4);
    e.op('li', 'r2', a + 8);
    e.label('top');
    e.op('addi', 2, 2, -1);
    e.op('dbnz', 1, 'top');
    e.op('blt', 0, 2, 'end');
    e.op('vld.s8', 'v3', 2, t - s);
    e.op('vmulr.vv', 1, 1, 31, 30, 'rne', 'sat8');
    e.op('mxu.mm', 11, 12, 13, 14, 15, 'acc');
    e.op('li', 5, acc);
    e.label('end');
    e.op('halt');
    const p = e.finish();
    const text = [
      '; a loop', '.buffer a, dram, 100', '.buffer s, spad, 7', '.buffer t, spad, 5', '.buffer acc0, acc, 3',
      '    li r1, 4', '    li r2, a + 8', 'top:', '    addi r2, r2, -1', '    dbnz r1, top', '    blt r0, r2, end',
      '    vld.s8 v3, r2, t - s', '    vmulr.vv v1, v1, v31, v30, rne, sat8', '    mxu.mm r11, r12, r13, r14, r15, acc',
      '    li r5, acc0', 'end:', '    halt',
    ].join('\n') + '\n';
    const ref = assemble(text, { file: 'loop.s' });
    expect(Array.from(p.words)).toEqual(Array.from(ref.words));
    expect(t).toBe(16); // spad alignment 16, as .buffer
    expect(p.buffers.get('t')!.address).toBe(ref.buffers.get('t')!.address);
    expect(p.labels.get('top')).toBe(2);
    expectSameProgram(p, programListing(p));
    expect(p.sourceLines[p.lines[0]! - 1]).toBe('    li r1, 4');
  });

  it('checks every operand at the call and names the row and field', () => {
    const e = new ProgramEmitter('bad.s');
    expect(() => e.op('li', 32, 0)).toThrow(/li: operand 1 \(rd\) 32: register out of range/);
    expect(() => e.li(1, 2 ** 31)).toThrow(EmitError);
    expect(() => e.op('li', 'v1', 0)).toThrow(/expected a r register/);
    expect(() => e.op('vld.s8', 1, 2, 40000)).toThrow(/immediate outside -32768..32767/);
    expect(() => e.op('mxu.mm', 1, 2, 3, 4, 5, 'add')).toThrow(/expected one of ovw, acc/);
    expect(() => e.op('add', 1, 2)).toThrow(/expected 3 operands, got 2/);
    expect(() => e.op('nosuch')).toThrow(/unknown mnemonic 'nosuch'/);
    expect(() => e.op('li', 1, 0.5)).toThrow(EmitError);
    e.op('jmp', 'nowhere');
    expect(() => e.finish()).toThrow(/undefined label 'nowhere'/);
    expect(e.pc).toBe(1);
  });

  it('a buffer past the capacity is the assembler\'s E011, from the emitter or from checkCapacity', () => {
    const e = new ProgramEmitter('big.s', { spad: 64 });
    e.buffer('a', 'spad', 60);
    expect(() => e.buffer('b', 'spad', 10)).toThrow(AsmError);
    const f = new ProgramEmitter('big.s');
    f.buffer('a', 'spad', 60);
    f.buffer('b', 'spad', 10);
    f.op('halt');
    const p = f.finish();
    try {
      checkCapacity(p, { spad: 64 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AsmError);
      const d = (err as AsmError).diagnostics;
      expect(d.map((x) => x.code)).toEqual(['E011']);
      expect(d[0]!.message).toContain("buffer 'b' needs 10 bytes of spad at 64");
      expect(d[0]!.sourceLine).toBe('.buffer b, spad, 10');
    }
    expect(() => checkCapacity(p, { spad: 74 })).not.toThrow();
  });

  it('finishing twice gives the same program; emitting after finish is refused; later emitters start clean', () => {
    const a = new ProgramEmitter('a.s');
    for (let i = 0; i < 5000; i++) a.op('vmacr', 1, 2, 3, 4, 5, 'rne', 'sat8'); // grows past the first arrays
    const pa = a.finish();
    expect(a.finish()).toBe(pa);
    expect(() => a.li(1, 2)).toThrow(EmitError);
    expect(() => a.op('halt')).toThrow(EmitError);
    // the next emitters take the working arrays back: their decoded fields hold nothing of the earlier program
    const b = new ProgramEmitter('b.s');
    b.li(3, 7);
    b.op('halt');
    const pb = b.finish();
    expectPredecoded(pb);
    expectPredecoded(pa);
    expect(Array.from(pb.words)).toEqual(Array.from(assemble('    li r3, 7\n    halt\n', { file: 'b.s' }).words));
  });

  it('word-built kernel programs: the listing re-assembles to the same words, buffers and lines', () => {
    const edge = loadMachine('edge');
    for (const [M, K, N, order] of [[9, 40, 70, 'rows'], [33, 9000, 97, 'columns']] as const) {
      const b = buildLinear(M, K, N, edge);
      expect(b.tiling.order).toBe(order);
      expect(b.program).toBeDefined();
      expectSameProgram(b.program!, b.source);
    }
    const r = buildLinearRequant(12, 40, 70, 8, edge);
    expectSameProgram(r.program!, r.source);
    const id = buildLinearRequant(12, 40, 70, 22, edge, undefined, { m: 1 << 30, e: 31, clampX: 1000, clampW: 2000 });
    expect(id.source).toMatch(/vmulr\.vx v\d+, v\d+, r20, r21, rne, sat32/);
    expectSameProgram(id.program!, id.source);
  });
});

describe('ProgramEmitter storage (programs share an arena)', () => {
  /** A program of n instructions whose words depend on the seed k. */
  function emitSome(e: ProgramEmitter, n: number, k: number): void {
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0) e.li(1 + (i % 30), k * 100_000 + i);
      else if (i % 3 === 1) e.op('vmulr.vx', (i + k) % 32, i % 32, 'r3', 4, 'rne', 'sat8');
      else e.op('addi', 2, 2, (i * k) % 30000);
    }
  }
  const snapshot = (p: Program): number[] => [...Array.from(p.words), ...Array.from(predecoded(p.words)!.fields), ...Array.from(predecoded(p.words)!.opc)];

  it('a finished program keeps its words while later, nested, grown and abandoned emitters write', () => {
    const a = new ProgramEmitter('a.s');
    emitSome(a, 1000, 1);
    a.op('halt');
    const pa = a.finish();
    const before = snapshot(pa);
    // nested: the outer emitter is still writing when the inner one starts and finishes
    const outer = new ProgramEmitter('outer.s');
    emitSome(outer, 500, 2);
    const inner = new ProgramEmitter('inner.s');
    emitSome(inner, 70_000, 3); // grows past a fresh arena (65,536 instructions)
    inner.op('halt');
    const pi = inner.finish();
    emitSome(outer, 500, 4);
    outer.op('halt');
    const po = outer.finish();
    // abandoned (a builder threw): the next emitter must not be blocked or write over it
    const dropped = new ProgramEmitter('dropped.s');
    emitSome(dropped, 10, 5);
    const next = new ProgramEmitter('next.s');
    emitSome(next, 2000, 6);
    next.op('halt');
    const pn = next.finish();
    expect(snapshot(pa)).toEqual(before);
    for (const p of [pa, po, pn]) expectSameProgram(p, programListing(p));
    // the grown one against the assembler on its listing, word for word (toEqual on 140 k numbers is slow)
    expect(pi.words.length / 2).toBe(70_001);
    expectPredecoded(pi);
    const re = assemble(programListing(pi), { file: pi.file });
    expect(re.words.length).toBe(pi.words.length);
    for (let i = 0; i < re.words.length; i++) if (re.words[i] !== pi.words[i]) expect.fail(`word ${i} differs`);
  });
});

describe('ProgramEmitter li of a buffer address', () => {
  it('names the buffer in the listing (same word), and refuses an undeclared one', () => {
    const e = new ProgramEmitter('sym.s');
    const a = e.buffer('a', 'dram', 100);
    const b = e.buffer('b', 'spad', 64);
    e.li(1, a, 'a');
    e.li(2, b + 40, 'b');
    e.li(3, b - 4, 'b');
    e.li(4, b + 40);
    expect(() => e.li(5, 0, 'nope')).toThrow(/li: operand 2 names buffer 'nope', which is not declared/);
    e.op('halt');
    const p = e.finish();
    expect(p.sourceLines.filter((l) => l.startsWith('    li')).map((l) => l.trim())).toEqual(['li r1, a', 'li r2, b + 40', 'li r3, b - 4', 'li r4, 40']);
    expectSameProgram(p, programListing(p));
  });
});
