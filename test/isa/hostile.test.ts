// Issue 11's reproducers for the assembler, disassembler, simulator limits and machine configs, in
// process: each input once died with an internal error (exit 3), ran for minutes, or was accepted
// silently; each now gets a precise error with exit code 1 (the `exitCode` the CLI prints and exits with).
import { describe, expect, it } from 'vitest';
import { assemble, MAX_DIAGNOSTICS_PER_FILE, MAX_DIAGNOSTICS_PER_LINE, programWarnings } from '../../isa/asm.js';
import { AsmError } from '../../isa/diagnostics.js';
import { disassemble } from '../../isa/disasm.js';
import { encode } from '../../isa/encoding.js';
import { BY_MNEMONIC } from '../../isa/table.js';
import { ConfigError, loadMachine, parseMachine } from '../../sim/config.js';
import { loadProgram, SimFault, simulate } from '../../sim/run.js';

/** The AsmError an assembly throws (fails the test if it assembles or throws anything else). */
function asmError(src: string, params?: Record<string, number>): AsmError {
  try {
    assemble(src, params ? { params } : {});
  } catch (e) {
    expect(e).toBeInstanceOf(AsmError);
    expect((e as AsmError).exitCode).toBe(1);
    return e as AsmError;
  }
  throw new Error(`assembled: ${src.slice(0, 60)}`);
}

describe('assembler: constants', () => {
  it('a negative or oversized shift count is a diagnostic at the operator, not NaN in the encoder', () => {
    const e = asmError('li r1, 0 >> -1100');
    expect(e.diagnostics[0]!.code).toBe('E008');
    expect(e.diagnostics[0]!.message).toBe('shift count -1100 is outside 0..63');
    expect(e.diagnostics[0]!.col).toBe(10);
    expect(asmError('li r1, 1 << 2000').diagnostics[0]!.message).toBe('shift count 2000 is outside 0..63');
    expect(e.message).not.toMatch(/NaN|Infinity/);
  });

  it('numbers beyond 2^53 and bitwise operands wider than 32 bits are rejected, not rounded or truncated', () => {
    expect(asmError('li r1, 99999999999999999999').diagnostics[0]!.message).toBe('number 99999999999999999999 is beyond 2^53 (not a safe integer)');
    expect(asmError('li r1, 9007199254740993').diagnostics[0]!.code).toBe('E008');
    expect(asmError('li r1, 0x100000000 | 0').diagnostics[0]!.message).toBe("operand 4294967296 of '|' does not fit 32 bits");
    // In range, the same operators still work.
    const p = assemble('.equ A, (1 << 20) >> 3\n.equ B, 0xff00 | 0x00ff\nhalt');
    expect(p.consts.get('A')).toBe(131072);
    expect(p.consts.get('B')).toBe(0xffff);
  });

  it('.param constructor / __proto__ / toString do not pick up inherited Object properties', () => {
    for (const name of ['constructor', '__proto__', 'toString']) {
      const e = asmError(`.param ${name}\nhalt`, {});
      expect(e.diagnostics[0]!.code).toBe('E013');
      expect(e.diagnostics[0]!.message).toBe(`parameter '${name}' has no default and was not supplied`);
    }
    expect(assemble('.param constructor, 5\nhalt').consts.get('constructor')).toBe(5);
    expect(asmError('.param N\nhalt', { N: Number.NaN }).diagnostics[0]!.message).toBe("parameter 'N' was given NaN, not a safe integer");
  });

  it('912 nested parentheses and 6,913 unary minus signs are a depth diagnostic, not a stack overflow', () => {
    const parens = asmError(`li r1, ${'('.repeat(912)}1${')'.repeat(912)}`);
    expect(parens.diagnostics[0]!.message).toBe('expression nests deeper than 64 levels');
    const minus = asmError(`li r1, ${'-'.repeat(6913)}1`);
    expect(minus.diagnostics[0]!.message).toBe('expression nests deeper than 64 levels');
    expect(minus.message.length).toBeLessThan(1000);
  });
});

describe('assembler: diagnostics volume', () => {
  it('nop with 10,000 and 20,000 commas: a few capped diagnostics and a count, short lines', () => {
    for (const n of [10_000, 20_000]) {
      const e = asmError(`nop ${','.repeat(n)}`);
      expect(e.diagnostics.length).toBe(MAX_DIAGNOSTICS_PER_LINE);
      expect(e.suppressed).toBe(n + 1 - MAX_DIAGNOSTICS_PER_LINE);
      expect(e.message).toContain(`${n + 1} errors (${n + 1 - MAX_DIAGNOSTICS_PER_LINE} not shown)`);
      expect(e.message.length).toBeLessThan(2000);
    }
  });

  it('a file of many bad lines reports at most the per-file cap', () => {
    const e = asmError('bogus r1\n'.repeat(500));
    expect(e.diagnostics.length).toBe(MAX_DIAGNOSTICS_PER_FILE);
    expect(e.message).toContain('500 errors (450 not shown)');
  });

  it('a long source line is cut around the caret, which still points at the offending text', () => {
    const e = asmError(`li r1, ${'1 + '.repeat(200)}nosuch`);
    const text = e.message.split('\n');
    expect(text[0]).toMatch(/^<input>:1:808: error\[E006\]: undefined symbol 'nosuch'$/);
    const src = text[2]!, caret = text[3]!;
    expect(src.length).toBeLessThan(140);
    const at = caret.indexOf('^');
    expect(src.slice(at, at + 6)).toBe('nosuch');
  });
});

describe('disassembler', () => {
  it('a branch that leaves the program is listed as a commented error, not a label the assembler rejects', () => {
    const def = BY_MNEMONIC.get('jmp') ?? BY_MNEMONIC.get('j')!;
    const [lo, hi] = encode(def, def.fields.map((fd) => (fd.kind === 'target' ? -5 : 0)));
    const d = disassemble(new Uint32Array([lo, hi]));
    expect(d.lines[0]!.error).toBe(`${def.mnemonic} -5: branch target -5 is outside the program (0..1)`);
    expect(d.text).not.toContain('L-5');
    // The listing (comments only) assembles.
    expect(() => assemble(d.text)).not.toThrow();
  });
});

describe('warnings', () => {
  it('a program without halt gets a warning; one with halt none', () => {
    expect(programWarnings(assemble('nop', { file: 'a.s' }))).toEqual(['a.s: warning: the program has no halt; it ends by running off its last instruction']);
    expect(programWarnings(assemble('nop\nhalt', { file: 'a.s' }))).toEqual([]);
  });
});

const SMALL = { dram: { sizeBytes: 65536 }, spad: { sizeBytes: 4096 }, acc: { sizeBytes: 4096 } };

function fault(src: string, machine: object, opts: { checkBuffers?: boolean } = {}): SimFault {
  const prog = assemble(src, { file: 'p.s' });
  try {
    simulate(loadProgram(prog.words, prog), parseMachine(machine), opts);
  } catch (e) {
    expect(e).toBeInstanceOf(SimFault);
    expect((e as SimFault).exitCode).toBe(1);
    return e as SimFault;
  }
  throw new Error('ran without a fault');
}

describe('simulator limits', () => {
  it('an mxu.mm of 1.9e9 rows with zero strides faults at once with pc, instruction, cycle and source line', () => {
    const src = `.buffer w, spad, 1024
    li r1, w
    li r2, 32
    mxu.wload r1, r2, r2, r2
    li r3, 1900000000
    mxu.mm zero, r1, r3, zero, zero, ovw
    halt`;
    const t = performance.now();
    const f = fault(src, SMALL);
    expect(performance.now() - t).toBeLessThan(2000);
    expect(f.kind).toBe('runaway');
    expect(f.pc).toBe(4);
    expect(f.line).toBe(6);
    expect(f.message).toContain('mxu.mm does 1945600000000 element operations, over the per-instruction budget of 1073741824 (limits.maxWorkPerInstruction)');
    expect(f.message).toContain('p.s:6: fault[runaway] at pc 4, cycle ');
  });

  it('a dma.ld of 1.9e9 rows with zero strides faults at once', () => {
    const src = `    li r1, 1900000000
    li r2, 16
    dma.ld spad, zero, zero, r1, r2, zero, zero
    halt`;
    const f = fault(src, SMALL);
    expect(f.kind).toBe('runaway');
    expect(f.message).toContain('dma does 30400000000 element operations');
    expect(f.line).toBe(3);
  });

  it('the cycle budget holds for the end of the run, not only at dispatch', () => {
    // One DMA of 2048 bytes (128 cycles at 16 bytes/cycle, within the budget by itself) whose data lands
    // after its 100-cycle latency, past a 200-cycle budget: dispatch never passes 200, the run's end does.
    const src = `.buffer s, spad, 4096
    li r1, 1
    li r2, 2048
    li r3, s
    dma.ld spad, r3, zero, r1, r2, r2, r2
    halt`;
    const f = fault(src, { ...SMALL, limits: { maxCycles: 200 } });
    expect(f.kind).toBe('runaway');
    expect(f.message).toMatch(/the run reaches cycle \d+, past the cycle budget of 200 \(limits.maxCycles\)/);
    expect(f.pc).toBe(3);
    // With room, the same program runs and ends beyond cycle 200.
    const prog = assemble(src);
    const res = simulate(loadProgram(prog.words, prog), parseMachine(SMALL));
    expect(res.stats.cycles!).toBeGreaterThan(200);
  });

  it('--check-buffers: a vector load leaving its .buffer faults; without the check it runs', () => {
    const src = `.buffer a, spad, 16
.buffer b, spad, 16
    li r1, 32
    vsetvl r2, r1
    li r1, a
    vld.s8 v1, r1, 0
    halt`;
    const f = fault(src, SMALL, { checkBuffers: true });
    expect(f.kind).toBe('buffer-overrun');
    expect(f.message).toContain("read of spad [0, 32) bytes starts in buffer 'a' [0, 16) and leaves it");
    const prog = assemble(src);
    expect(simulate(loadProgram(prog.words, prog), parseMachine(SMALL)).stats.instructions).toBe(5);
  });

  it('--check-buffers: a DMA store leaving its DRAM buffer faults', () => {
    const src = `.buffer d, dram, 64
.buffer e, dram, 64
.buffer s, spad, 128
    li r1, 1
    li r2, 128
    li r3, s
    li r4, d
    dma.st spad, r3, r4, r1, r2, r2, r2
    halt`;
    const f = fault(src, SMALL, { checkBuffers: true });
    expect(f.message).toContain("write of dram [0, 128) bytes starts in buffer 'd' [0, 64) and leaves it");
  });
});

describe('machine configs', () => {
  const configError = (input: unknown): string => {
    try {
      parseMachine(input, 'm.json');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  it('bytesPerCycle 5e-324 (or 0.0001) is rejected with the field named, instead of cycles = infinity', () => {
    for (const v of [5e-324, 1e-4, 0]) {
      const m = configError({ dram: { bytesPerCycle: v } });
      expect(m).toContain('→ at dram.bytesPerCycle');
      expect(m).toContain('must be at least 1/1024');
    }
    expect(configError({ clockGHz: 5e-324 })).toContain('→ at clockGHz');
  });

  it('presets are own keys only: toString, constructor, __proto__ are not presets', () => {
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      expect(() => loadMachine(name)).toThrow(`machine '${name}' is neither a preset (edge, server) nor a readable file`);
      expect(configError({ preset: name })).toContain(`unknown preset "${name}" (one of edge, server)`);
    }
  });

  it('a modified machine gets a name saying what changed; an explicit name is kept', () => {
    expect(parseMachine({ dram: { bytesPerCycle: 8 } }).name).toBe('edge (dram.bytesPerCycle=8)');
    expect(parseMachine({ preset: 'server', mxu: { rows: 64 }, vpu: { lanes: 64 } }).name).toBe('server (mxu.rows=64, vpu.lanes=64)');
    expect(parseMachine({ preset: 'server', dram: { bytesPerCycle: 256 } }).name).toBe('server');
    expect(parseMachine({ name: 'mine', dram: { bytesPerCycle: 8 } }).name).toBe('mine');
  });
});
