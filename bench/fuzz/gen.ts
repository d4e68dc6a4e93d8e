// Seeded generators of hostile and careless input for the fuzz harness (bench/fuzz/main.ts) and its slice
// in the test suite: assembler sources, instruction words, machine configs and kernel case files. Each
// generator mixes plausible input (mutated from valid programs, configs and cases) with the pathological
// shapes users and scripts actually produce: huge numbers, deep nesting, inherited property names, empty
// operands by the thousand, headers that lie.
import seedrandom from 'seedrandom';
import { encode, fieldRange } from '../../isa/encoding.js';
import { ISA } from '../../isa/table.js';

export type Rng = () => number;

export function rngFor(seed: string): Rng {
  return seedrandom.alea(seed);
}

const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** Numbers that break careless code: signs, powers of two and their neighbours, beyond 2^53, floats. */
const NASTY_NUMBERS = [
  '0', '1', '-1', '7', '31', '32', '63', '64', '127', '128', '255', '256', '-128', '-129', '32767', '32768', '-32769',
  '65535', '2147483647', '2147483648', '-2147483648', '-2147483649', '4294967295', '4294967296', '9007199254740991',
  '9007199254740993', '99999999999999999999', '0x7fffffff', '0xffffffff', '0x100000000', '0b1010', '0x', '0b', '1_000',
  '1e3', '1.5', 'NaN', 'Infinity',
];
const NASTY_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'r0', 'v31', 'zero', 'halt', 'x', 'N', '$a', '.b', 'é'];
const OPS = ['+', '-', '*', '/', '%', '<<', '>>', '&', '|', '^', '~'];

/** A valid program corpus to mutate: short kernels of every unit. */
export const ASM_CORPUS: readonly string[] = [
  `.param N, 100
.buffer a, dram, N
.buffer sa, spad, N
.buffer acc0, acc, 64
    li r1, 1
    li r2, N
    li r3, sa
    li r4, a
    dma.ld spad, r3, r4, r1, r2, r2, r2
    li r13, N
loop:
    vsetvl r16, r13
    vld.s8 v1, r3, 0
    vadd v3, v1, v1
    vst.s8 v3, r3, 0
    sub r13, r13, r16
    bne r13, zero, loop
    halt`,
  `.equ K, 32
.buffer w, spad, K*K
.buffer x, spad, 4*K
.buffer y, acc, 4*K
    li r1, w
    li r2, K
    li r3, K
    mxu.wload r1, r2, r3, r2
    li r4, y
    li r5, x
    li r6, 4
    mxu.mm r4, r5, r6, r2, r2, ovw
    halt`,
];

/** One operand: a register, a number, a symbol or an expression of them. */
function operand(r: Rng, depth = 0): string {
  const c = r();
  if (c < 0.2) return `r${pick(r, ['0', '1', '5', '31', '32', '99', '-1', ''])}`;
  if (c < 0.3) return `v${int(r, 0, 40)}`;
  if (c < 0.55) return pick(r, NASTY_NUMBERS);
  if (c < 0.7) return pick(r, NASTY_NAMES);
  if (c < 0.8 && depth < 4) return `${operand(r, depth + 1)} ${pick(r, OPS)} ${operand(r, depth + 1)}`;
  if (c < 0.85 && depth < 4) return `(${operand(r, depth + 1)})`;
  if (c < 0.88) return pick(r, ['spad', 'acc', 'dram', 'rne', 'floor', 'sat8', 'wrap32', 'ovw', 'acc']);
  if (c < 0.9) return '';
  return String(int(r, -70000, 70000));
}

/** A pathological line that stresses one limit (recursion depth, diagnostics volume, line length). */
function monsterLine(r: Rng): string {
  const n = int(r, 100, 20000);
  switch (int(r, 0, 7)) {
    case 0: return `li r1, ${'('.repeat(n)}1${')'.repeat(n)}`;
    case 1: return `li r1, ${'-'.repeat(n)}1`;
    case 2: return `nop${','.repeat(n)}`;
    case 3: return `li r1, ${'~'.repeat(n)}0`;
    case 4: return `li r1, 0 >> -${n}`;
    case 5: return `${'x'.repeat(n)}:`;
    case 6: return `.equ e${n}, ${Array.from({ length: Math.min(n, 2000) }, () => '1').join(' + ')}`;
    default: return `li r1, ${'1'.repeat(Math.min(n, 400))}`;
  }
}

/** An assembler source: a mutated corpus program, random lines, or a monster line. */
export function genAsmSource(r: Rng): string {
  const base = pick(r, ASM_CORPUS).split('\n');
  const lines = r() < 0.5 ? base : [];
  const extra = int(r, 0, 8);
  for (let i = 0; i < extra; i++) {
    const c = r();
    let line: string;
    if (c < 0.03) line = monsterLine(r);
    else if (c < 0.15) line = `.param ${pick(r, NASTY_NAMES)}${r() < 0.5 ? `, ${operand(r)}` : ''}`;
    else if (c < 0.25) line = `.equ ${pick(r, NASTY_NAMES)}, ${operand(r)}`;
    else if (c < 0.35) line = `.buffer ${pick(r, NASTY_NAMES)}, ${pick(r, ['dram', 'spad', 'acc', 'rom', ''])}, ${operand(r)}${r() < 0.3 ? `, ${operand(r)}` : ''}`;
    else if (c < 0.4) line = `${pick(r, NASTY_NAMES)}:`;
    else if (c < 0.45) line = pick(r, ['; comment', '# comment', '// comment', '', '   ', '\t', '.bogus 1', 'halt', '\u0000', '\uffff']);
    else {
      const def = pick(r, ISA);
      const n = r() < 0.85 ? def.fields.length : int(r, 0, 9);
      line = `${r() < 0.05 ? def.mnemonic.toUpperCase() : def.mnemonic} ${Array.from({ length: n }, () => operand(r)).join(', ')}`;
    }
    lines.splice(int(r, 0, lines.length), 0, line);
  }
  if (r() < 0.1 && lines.length > 0) lines.splice(int(r, 0, lines.length - 1), 1);
  return lines.join(r() < 0.05 ? '\r\n' : '\n');
}

/** Host parameters for a source, sometimes with inherited names or unsafe values. */
export function genParams(r: Rng): Record<string, number> {
  if (r() < 0.8) return {};
  const out: Record<string, number> = {};
  out[pick(r, NASTY_NAMES)] = pick(r, [0, 1, -1, 100, 2 ** 31, 2 ** 53, NaN, Infinity, 1.5]);
  return out;
}

/** A program of instruction words: valid encodings with random fields, and random words. */
export function genWords(r: Rng): Uint32Array {
  const n = int(r, 1, 24);
  const words = new Uint32Array(n * 2);
  for (let pc = 0; pc < n; pc++) {
    if (r() < 0.85) {
      const def = pick(r, ISA);
      const values = def.fields.map((fd) => {
        const fr = fieldRange(fd.kind);
        if (fd.kind === 'target') return int(r, -pc - 2, n - pc + 2);
        if (fd.kind === 'imm16' || fd.kind === 'imm32') return r() < 0.5 ? int(r, -4, 64) : int(r, fr.min, fr.max);
        if (fd.kind === 'sreg' || fd.kind === 'vreg') return int(r, 0, 8);
        return int(r, fr.min, fr.max);
      });
      const [lo, hi] = encode(def, values);
      words[pc * 2] = lo;
      words[pc * 2 + 1] = hi;
    } else {
      words[pc * 2] = Math.floor(r() * 2 ** 32);
      words[pc * 2 + 1] = Math.floor(r() * 2 ** 32);
    }
  }
  return words;
}

const CONFIG_PATHS: ReadonlyArray<readonly string[]> = [
  ['name'], ['clockGHz'], ['frontend', 'queueDepth'], ['frontend', 'takenBranchPenaltyCycles'], ['mxu', 'rows'], ['mxu', 'cols'],
  ['vpu', 'lanes'], ['vpu', 'aluLatencyCycles'], ['vpu', 'mulLatencyCycles'], ['vpu', 'loadLatencyCycles'], ['vpu', 'reduceLatencyCycles'],
  ['divider', 'present'], ['divider', 'divLatencyCycles'], ['divider', 'sqrtLatencyCycles'], ['dram', 'sizeBytes'], ['dram', 'bytesPerCycle'],
  ['dram', 'latencyCycles'], ['spad', 'sizeBytes'], ['acc', 'sizeBytes'], ['energy', 'pjPerMac'], ['limits', 'maxCycles'],
  ['limits', 'maxInstructions'], ['limits', 'maxWorkPerInstruction'], ['preset'], ['mxu', 'bogus'], ['bogus'],
];
const CONFIG_VALUES: readonly unknown[] = [
  0, 1, 2, 3, 4, 7, 8, 16, 32, 64, 100, 256, 1024, 4096, 65536, 2 ** 20, 2 ** 31, 2 ** 53, -1, -0, 0.5, 1.5, 5e-324, 1e-300, 1e300,
  'edge', 'server', 'toString', 'constructor', '__proto__', '', null, true, false, [], {}, [1], { rows: 1 },
];

/** A machine description: mostly small machines with a few fields set to hostile values. */
export function genMachineConfig(r: Rng): unknown {
  if (r() < 0.03) return pick(r, [null, 42, 'edge', [], 'toString']);
  const cfg: Record<string, unknown> = {
    dram: { sizeBytes: 4096 }, spad: { sizeBytes: 4096 }, acc: { sizeBytes: 4096 },
    limits: { maxCycles: 200_000, maxInstructions: 5_000, maxWorkPerInstruction: 2 ** 20 },
  };
  const n = int(r, 0, 4);
  for (let i = 0; i < n; i++) {
    const path = pick(r, CONFIG_PATHS);
    let v = pick(r, CONFIG_VALUES);
    // Keep generated machines small: a valid config of 2 GiB DRAM is legal but not what we fuzz.
    if (path[path.length - 1] === 'sizeBytes' && typeof v === 'number' && v > 2 ** 20) v = 2 ** 20;
    if ((path[0] === 'mxu' || path[1] === 'lanes') && typeof v === 'number' && v > 256) v = 256;
    let o = cfg;
    for (const k of path.slice(0, -1)) {
      if (typeof o[k] !== 'object' || o[k] === null || Array.isArray(o[k])) o[k] = {};
      o = o[k] as Record<string, unknown>;
    }
    Object.defineProperty(o, path[path.length - 1]!, { value: v, enumerable: true, writable: true, configurable: true });
  }
  if (r() < 0.05) return JSON.parse(JSON.stringify(cfg)) as unknown;
  return cfg;
}

/** A nested array `depth` levels deep around one value. */
export function deepNest(depth: number, leaf: unknown = 1): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** A .npy file whose header may lie: bad shapes, dtypes, lengths, versions. */
export function genNpy(r: Rng, values: readonly number[] = [1, 2, 3]): Uint8Array {
  const shape = r() < 0.5 ? `(${values.length},)` : pick(r, ['(-1,)', '(2.5,)', '(4294967296, 0)', '(100000000, 0)', '()', '(3, 1)', '(1, 3)', '(,)', '(3,,)', '(1e3,)', '(99999999999999999999,)', `(${values.length}L,)`]);
  const descr = r() < 0.6 ? pick(r, ['|i1', '<i2', '<i4', '<i8', '|u1']) : pick(r, ['<f4', '>i4', "'", 'constructor', '', '<i4' + 'x'.repeat(50)]);
  const fortran = r() < 0.9 ? 'False' : pick(r, ['True', 'Maybe']);
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
  if (r() < 0.05) header = 'garbage that must never be echoed';
  const size = descr.endsWith('8') ? 8 : descr.endsWith('4') ? 4 : descr.endsWith('2') ? 2 : 1;
  const major = r() < 0.9 ? 1 : pick(r, [2, 3, 0, 9]);
  const hb = new TextEncoder().encode(header);
  const pre = major === 1 ? 10 : 12;
  const dataBytes = r() < 0.85 ? values.length * size : int(r, 0, values.length * size);
  const out = new Uint8Array(pre + hb.length + dataBytes);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  const declared = r() < 0.95 ? hb.length : pick(r, [0, 65535, hb.length + 100]);
  if (major === 1) dv.setUint16(8, declared & 0xffff, true);
  else dv.setUint32(8, declared, true);
  out.set(hb, pre);
  for (let i = 0; i < values.length && (i + 1) * size <= dataBytes; i++) {
    const o = pre + hb.length + i * size;
    if (size === 1) dv.setInt8(o, values[i]! | 0);
    else if (size === 2) dv.setInt16(o, values[i]! | 0, true);
    else if (size === 4) dv.setInt32(o, values[i]! | 0, true);
    else dv.setBigInt64(o, BigInt(Math.trunc(values[i]!)), true);
  }
  if (r() < 0.03) out[0] = 0;
  return out;
}

/** A value that replaces one field of a case: wrong types, ragged arrays, huge shapes, deep nesting. */
function hostileField(r: Rng, original: unknown): unknown {
  const c = r();
  if (c < 0.1) return null;
  if (c < 0.15) return pick(r, ['x.npy', 'constructor', '', '1']);
  if (c < 0.22) return deepNest(int(r, 2, 3000));
  if (c < 0.3) return [[1, 2], [3]];
  if (c < 0.35) return [1, [2, 3]];
  if (c < 0.45) return [2 ** 31, 2 ** 31];
  if (c < 0.5) return pick(r, [-1, 0, 2.5, 2 ** 53, 1e300, -(2 ** 31) - 1]);
  if (c < 0.55) return {};
  if (Array.isArray(original)) {
    const copy = structuredClone(original) as unknown[];
    if (copy.length > 0 && r() < 0.5) copy.pop();
    else copy.push(pick(r, [300, -129, 2 ** 31, 1.5, 'a', null, []]));
    return copy;
  }
  if (typeof original === 'number') return pick(r, [original + 1, -original, 0, 2 ** 40, original * 1000]);
  return pick(r, [[], 3, 'x']);
}

/** A case for kernel `kernel` derived from a valid example, with a few fields made hostile. */
export function genCase(r: Rng, example: unknown): { input: unknown; npy: Map<string, Uint8Array> } {
  const npy = new Map<string, Uint8Array>();
  if (typeof example !== 'object' || example === null || Array.isArray(example)) return { input: example, npy };
  const input = structuredClone(example) as Record<string, unknown>;
  const keys = Object.keys(input);
  const n = r() < 0.15 ? 0 : int(r, 1, 3);
  for (let i = 0; i < n; i++) {
    const c = r();
    if (c < 0.08) input[pick(r, ['bogus', 'constructor', '__proto__', 'shapes'])] = 1;
    else if (c < 0.2 && keys.length > 0) delete input[pick(r, keys)];
    else if (c < 0.35 && keys.length > 0) {
      const k = pick(r, keys);
      const flat = Array.isArray(input[k]) ? (input[k] as unknown[]).flat(8).filter((v): v is number => typeof v === 'number').slice(0, 64) : [1, 2, 3];
      npy.set(k, genNpy(r, flat));
    } else if (keys.length > 0) {
      const k = pick(r, keys);
      input[k] = hostileField(r, input[k]);
    }
  }
  return { input, npy };
}
