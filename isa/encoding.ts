// Binary encoding derived from the ISA table: a 64-bit word per instruction, opcode in bits 0..7, the
// row's fields packed upward in declaration order. Decoding is strict (unknown opcode, enum values out of
// range and non-zero unused bits are errors), so no two rows can claim the same word.
import { BY_OPCODE, ENUMS, FIELD_KINDS, isEnumKind, OPCODE_BITS, type FieldKind, type InstrDef } from './table.js';

export interface FieldRange {
  readonly min: number;
  readonly max: number;
  readonly signed: boolean;
}

const RANGES = new Map<FieldKind, FieldRange>();

/** The values a field of this kind can hold (computed once per kind: the assembler asks per operand). */
export function fieldRange(kind: FieldKind): FieldRange {
  let r = RANGES.get(kind);
  if (r === undefined) {
    r = computeRange(kind);
    RANGES.set(kind, r);
  }
  return r;
}

function computeRange(kind: FieldKind): FieldRange {
  const bits = FIELD_KINDS[kind].bits;
  if (isEnumKind(kind)) return { min: 0, max: ENUMS[kind].length - 1, signed: false };
  if (kind === 'imm16' || kind === 'imm32' || kind === 'target') {
    return { min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1, signed: true };
  }
  return { min: 0, max: 2 ** bits - 1, signed: false };
}

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

/** One field's place in the word, precomputed per row so that encode/decode run on plain int32 halves. */
interface FieldSlot {
  readonly name: string;
  readonly pos: number;
  readonly bits: number;
  readonly min: number;
  readonly max: number;
  readonly signed: boolean;
}

const SLOTS: ({ readonly slots: readonly FieldSlot[]; readonly end: number } | undefined)[] = [];
function slotsOf(def: InstrDef): { readonly slots: readonly FieldSlot[]; readonly end: number } {
  let s = SLOTS[def.opcode];
  if (s === undefined) {
    let pos = OPCODE_BITS;
    const slots = def.fields.map((fd) => {
      const bits = FIELD_KINDS[fd.kind].bits;
      const r = fieldRange(fd.kind);
      const slot = { name: fd.name, pos, bits, min: r.min, max: r.max, signed: r.signed };
      pos += bits;
      return slot;
    });
    s = { slots, end: pos };
    SLOTS[def.opcode] = s;
  }
  return s;
}

/**
 * Pack field values into a 64-bit word, returned as [low 32 bits, high 32 bits] (unsigned). Plain int32
 * arithmetic on the two halves (a field may straddle bit 32); no BigInt on this path.
 */
export function encode(def: InstrDef, values: readonly number[]): [number, number] {
  encodeInto(def, values, PAIR, 0);
  return [PAIR[0]!, PAIR[1]!];
}
const PAIR = new Uint32Array(2);

/** encode() writing the word's two halves to out[at] and out[at + 1] (no array per word: the emitter's path). */
export function encodeInto(def: InstrDef, values: readonly number[], out: Uint32Array, at: number): void {
  if (values.length !== def.fields.length) {
    throw new RangeError(`${def.mnemonic}: expected ${def.fields.length} operands, got ${values.length}`);
  }
  const { slots } = slotsOf(def);
  let lo = def.opcode, hi = 0;
  for (let i = 0; i < slots.length; i++) {
    const f = slots[i]!;
    const v = values[i]!;
    if (!Number.isInteger(v) || v < f.min || v > f.max) {
      throw new RangeError(`${def.mnemonic}: field ${f.name} value ${v} outside ${f.min}..${f.max}`);
    }
    // the field's low `bits` bits (two's complement for signed fields), as an unsigned number
    const u = f.bits === 32 ? v >>> 0 : (v & ((1 << f.bits) - 1)) >>> 0;
    if (f.pos >= 32) hi |= u << (f.pos - 32);
    else {
      lo |= u << f.pos;
      if (f.pos + f.bits > 32) hi |= u >>> (32 - f.pos);
    }
  }
  out[at] = lo >>> 0;
  out[at + 1] = hi >>> 0;
}

export interface DecodedWord {
  readonly def: InstrDef;
  readonly values: number[];
}

export function decode(lo: number, hi: number): DecodedWord {
  const def = decodeInto(lo, hi, SCRATCH, 0);
  return { def, values: Array.from(SCRATCH.subarray(0, def.fields.length)) };
}
const SCRATCH = new Int32Array(16);

/**
 * Decodes a word, writing its field values to out[off..] (no allocation: the simulator's loader decodes every
 * instruction of a program this way); returns the row. Same strict checks and errors as decode.
 */
export function decodeInto(lo: number, hi: number, out: Int32Array, off: number): InstrDef {
  lo >>>= 0;
  hi >>>= 0;
  const opcode = lo & 0xff;
  const def = BY_OPCODE.get(opcode);
  if (!def) throw new DecodeError(`unknown opcode 0x${opcode.toString(16).padStart(2, '0')}`);
  const { slots, end } = slotsOf(def);
  for (let i = 0; i < slots.length; i++) {
    const f = slots[i]!;
    let raw: number;
    if (f.pos >= 32) raw = hi >>> (f.pos - 32);
    else if (f.pos + f.bits > 32) raw = (lo >>> f.pos) | (hi << (32 - f.pos));
    else raw = lo >>> f.pos;
    let v: number;
    if (f.bits === 32) v = f.signed ? raw | 0 : raw >>> 0;
    else {
      raw &= (1 << f.bits) - 1;
      v = f.signed ? (raw << (32 - f.bits)) >> (32 - f.bits) : raw;
    }
    if (v > f.max) throw new DecodeError(`${def.mnemonic}: field ${f.name} has invalid value ${v}`);
    out[off + i] = v;
  }
  // bits at and above `end` (the shift counts stay below 32: `x >>> 32` would be `x >>> 0`)
  const unused = end >= 64 ? 0 : end >= 32 ? hi >>> (end - 32) : (lo >>> end) | hi;
  if (unused !== 0) {
    throw new DecodeError(`${def.mnemonic}: unused bits above bit ${end} are not zero`);
  }
  return def;
}

/** A program decoded for execution (decodeProgram). */
export interface DecodedProgram {
  /** opcode per pc (0 where the word does not decode) */
  readonly opc: Uint8Array;
  /** where pc's field values start in `fields` */
  readonly fieldAt: Int32Array;
  /** `slots` values per distinct instruction word */
  readonly fields: Int32Array;
  /** the decode error of each pc that has one */
  readonly errors: Map<number, string>;
}

/**
 * Decodes a whole program, each distinct instruction word once: a BERT-base layer's unrolled programs hold ~245,000
 * instructions but ~13,000 distinct words, so the field values are stored per distinct word (`fields`, `slots` per
 * word, as decodeInto writes them) and each pc points at its word's (`fieldAt`): 32 bytes per instruction of fresh
 * memory fewer to fill. Words are matched exactly (both halves) in an open-addressing table of 2^14 entries,
 * half of them used at most (further distinct words get rows of their own); a word that fails to decode is never
 * entered, so every failing pc gets its own error. Not reentrant (one table per process; decoding is synchronous).
 */
export function decodeProgram(words: Uint32Array, slots: number): DecodedProgram {
  const n = words.length >> 1;
  const errors = new Map<number, string>();
  const opc = new Uint8Array(n), fieldAt = new Int32Array(n);
  let fields = new Int32Array(slots * Math.min(n, 1024));
  let rows = 0;
  const t = table();
  // a new stamp empties the table (no clearing per program)
  const stamp = (STAMP = (STAMP + 1) | 0);
  let entries = 0;
  for (let pc = 0; pc < n; pc++) {
    const lo = words[2 * pc]! | 0, hi = words[2 * pc + 1]! | 0;
    // entry e: t[4e] stamp, t[4e + 1] lo, t[4e + 2] hi, t[4e + 3] first pc (one cache line per probe)
    let h = (Math.imul(lo, 0x9e3779b1) ^ Math.imul(hi ^ (hi >>> 15), 0x85ebca77)) >>> (32 - TABLE_BITS);
    while (t[4 * h] === stamp && (t[4 * h + 1] !== lo || t[4 * h + 2] !== hi)) h = (h + 1) & TABLE_MASK;
    if (t[4 * h] === stamp) {
      const src = t[4 * h + 3]!;
      opc[pc] = opc[src]!;
      fieldAt[pc] = fieldAt[src]!;
      continue;
    }
    if ((rows + 1) * slots > fields.length) {
      const grown = new Int32Array(Math.min(2 * fields.length, slots * n));
      grown.set(fields);
      fields = grown;
    }
    try {
      opc[pc] = decodeInto(lo, hi, fields, rows * slots).opcode;
    } catch (e) {
      errors.set(pc, e instanceof Error ? e.message : String(e));
      fields.fill(0, rows * slots, (rows + 1) * slots);
      continue;
    }
    fieldAt[pc] = rows * slots;
    rows++;
    // at most half full, so that probes stay short; past that, words get rows of their own
    if (entries < TABLE_MASK >> 1) {
      t[4 * h] = stamp;
      t[4 * h + 1] = lo;
      t[4 * h + 2] = hi;
      t[4 * h + 3] = pc;
      entries++;
    }
  }
  return { opc, fieldAt, fields, errors };
}

const TABLE_BITS = 14, TABLE_MASK = (1 << TABLE_BITS) - 1;
let TABLE: Int32Array | undefined;
let STAMP = 0;
/** The distinct-word table of decodeProgram (2^14 entries of 4 int32, 256 KB), allocated once and reused by stamp. */
function table(): Int32Array {
  return (TABLE ??= new Int32Array(4 << TABLE_BITS));
}

/** Words as little-endian bytes (the .bin format: 8 bytes per instruction). */
export function wordsToBytes(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const dv = new DataView(out.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w, true));
  return out;
}

export function bytesToWords(bytes: Uint8Array): Uint32Array {
  if (bytes.length % 8 !== 0) throw new DecodeError(`binary length ${bytes.length} is not a multiple of 8 bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint32(i * 4, true);
  return out;
}
