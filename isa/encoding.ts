// Binary encoding derived from the ISA table: a 64-bit word per instruction, opcode in bits 0..7, the
// row's fields packed upward in declaration order. Decoding is strict (unknown opcode, enum values out of
// range and non-zero unused bits are errors), so no two rows can claim the same word.
import { BY_OPCODE, ENUMS, FIELD_KINDS, isEnumKind, OPCODE_BITS, type FieldKind, type InstrDef } from './table.js';

export interface FieldRange {
  readonly min: number;
  readonly max: number;
  readonly signed: boolean;
}

export function fieldRange(kind: FieldKind): FieldRange {
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

/** Pack field values into a 64-bit word, returned as [low 32 bits, high 32 bits] (unsigned). */
export function encode(def: InstrDef, values: readonly number[]): [number, number] {
  if (values.length !== def.fields.length) {
    throw new RangeError(`${def.mnemonic}: expected ${def.fields.length} operands, got ${values.length}`);
  }
  let word = BigInt(def.opcode);
  let pos = BigInt(OPCODE_BITS);
  def.fields.forEach((fd, i) => {
    const v = values[i]!;
    const r = fieldRange(fd.kind);
    if (!Number.isInteger(v) || v < r.min || v > r.max) {
      throw new RangeError(`${def.mnemonic}: field ${fd.name} value ${v} outside ${r.min}..${r.max}`);
    }
    const bits = BigInt(FIELD_KINDS[fd.kind].bits);
    word |= BigInt.asUintN(Number(bits), BigInt(v)) << pos;
    pos += bits;
  });
  return [Number(word & 0xffffffffn), Number(word >> 32n)];
}

export interface DecodedWord {
  readonly def: InstrDef;
  readonly values: number[];
}

export function decode(lo: number, hi: number): DecodedWord {
  const word = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const opcode = Number(word & 0xffn);
  const def = BY_OPCODE.get(opcode);
  if (!def) throw new DecodeError(`unknown opcode 0x${opcode.toString(16).padStart(2, '0')}`);
  let pos = BigInt(OPCODE_BITS);
  const values: number[] = [];
  for (const fd of def.fields) {
    const bits = FIELD_KINDS[fd.kind].bits;
    const raw = (word >> pos) & ((1n << BigInt(bits)) - 1n);
    const r = fieldRange(fd.kind);
    const v = Number(r.signed ? BigInt.asIntN(bits, raw) : raw);
    if (v > r.max) throw new DecodeError(`${def.mnemonic}: field ${fd.name} has invalid value ${v}`);
    values.push(v);
    pos += BigInt(bits);
  }
  if (word >> pos !== 0n) throw new DecodeError(`${def.mnemonic}: unused bits above bit ${pos} are not zero`);
  return { def, values };
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
