// The typed program emitter: program builders emit instruction words straight from the ISA table (one checked
// function per row), with buffers allocated as the assembler's .buffer does, and get a Program like assemble()'s
// without any text on the way. The listing (assembly text that `intnpu asm` turns back into the same words) is
// rendered only when someone reads `sourceLines` (trace, debugger, --emit-asm): builders pay for no strings.
import { AsmError, type Diagnostic } from './diagnostics.js';
import type { BufferSymbol, MemorySpace, Program } from './asm.js';
import { formatInstr } from './disasm.js';
import { decode, encodeInto, fieldRange } from './encoding.js';
import { BY_MNEMONIC, ENUMS, isEnumKind, type FieldKind, type InstrDef } from './table.js';

/** A register as its number or its name ('r5', 'v3'); an enum as its name ('acc', 'rne') or index; a target as a label or absolute pc. */
export type Operand = number | string;

/** The assembler's default .buffer alignment per space (isa/asm.ts): the listing re-assembles to the same addresses. */
const ALIGN: Readonly<Record<MemorySpace, number>> = { dram: 64, spad: 16, acc: 1 };

export class EmitError extends Error {
  override readonly name = 'EmitError';
}

const LI = BY_MNEMONIC.get('li')!;

/** Field values per instruction in a decoded program (the simulator's loader uses the same layout). */
export const FIELD_SLOTS = 8;

const DECODED = new WeakMap<Uint32Array, { readonly opc: Uint8Array; readonly fields: Int32Array }>();

/**
 * The decoded form of words an emitter produced (opcode and FIELD_SLOTS values per instruction, exactly what
 * decoding them gives: test/isa/emit.test.ts checks), or undefined for any other words. Read-only: shared by
 * every run of a cached program.
 */
export function predecoded(words: Uint32Array): { readonly opc: Uint8Array; readonly fields: Int32Array } | undefined {
  return DECODED.get(words);
}

interface Note {
  readonly pc: number;
  readonly text: string;
}

/** Operand check per field kind: registers (number or name), enum (name or index), immediate, branch target. */
const K_SREG = 0, K_VREG = 1, K_ENUM = 2, K_IMM = 3, K_TARGET = 4;

/**
 * One ISA row compiled for the emitter (once per process): each field's check as a kind code and range, so that
 * emitting an instruction is one loop with a switch, no closure per operand (PERF: the layer's builders emit a few
 * million instructions).
 */
interface Row {
  readonly def: InstrDef;
  readonly kinds: Uint8Array;
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly names: ReadonlyArray<readonly string[] | undefined>;
  readonly hasTarget: boolean;
  /** field values of the instruction being emitted (encodeInto's input) */
  readonly values: number[];
}

const ROWS = new Map<string, Row>();

function compileRow(mnemonic: string): Row {
  const def = BY_MNEMONIC.get(mnemonic);
  if (def === undefined) throw new EmitError(`unknown mnemonic '${mnemonic}'`);
  if (def.fields.length > FIELD_SLOTS) throw new Error(`internal: ${mnemonic} has more than ${FIELD_SLOTS} fields`);
  const n = def.fields.length;
  const kinds = new Uint8Array(n), min = new Float64Array(n), max = new Float64Array(n);
  const names: (readonly string[] | undefined)[] = [];
  def.fields.forEach((fd, i) => {
    const kind: FieldKind = fd.kind;
    const r = fieldRange(kind);
    kinds[i] = kind === 'sreg' ? K_SREG : kind === 'vreg' ? K_VREG : isEnumKind(kind) ? K_ENUM : kind === 'target' ? K_TARGET : K_IMM;
    min[i] = r.min;
    max[i] = r.max;
    names.push(isEnumKind(kind) ? ENUMS[kind] : undefined);
  });
  const row: Row = { def, kinds, min, max, names, hasTarget: kinds.includes(K_TARGET), values: new Array<number>(n).fill(0) };
  ROWS.set(mnemonic, row);
  return row;
}

/** The number of a register name with this prefix ('r12' -> 12), or -1 when it is not one. No allocation. */
function regNumber(name: string, prefix: number): number {
  const len = name.length;
  if (len < 2 || name.charCodeAt(0) !== prefix) return -1;
  let n = 0;
  for (let i = 1; i < len; i++) {
    const d = name.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The builder's bug as an EmitError naming the row and the field. */
function badOperand(row: Row, i: number, v: Operand): never {
  const fd = row.def.fields[i]!;
  const kind = row.kinds[i]!;
  const why = kind === K_SREG || kind === K_VREG
    ? typeof v === 'string' && v[0] !== (kind === K_SREG ? 'r' : 'v')
      ? `expected a ${kind === K_SREG ? 'r' : 'v'} register`
      : `register out of range ${kind === K_SREG ? 'r' : 'v'}${row.min[i]}..${kind === K_SREG ? 'r' : 'v'}${row.max[i]}`
    : kind === K_ENUM
    ? `expected one of ${row.names[i]!.join(', ')}`
    : `immediate outside ${row.min[i]}..${row.max[i]}`;
  throw new EmitError(`${row.def.mnemonic}: operand ${i + 1} (${fd.name}) ${JSON.stringify(v)}: ${why}`);
}

/**
 * Instruction storage that emitters fill one after another: an emitter writes into the free tail, and its finished
 * program keeps views of the part it wrote (PERF: a layer builds programs of up to ~1 M instructions one after
 * another; a fresh exact-size copy of each program's words and decoded fields cost as much as emitting them, in
 * page faults and garbage collection). An emitter that outgrows the tail moves its instructions to a new arena twice
 * as large, which becomes the shared one; an old arena lives as long as a program that views it.
 */
interface Arena {
  readonly words: Uint32Array;
  readonly opc: Uint8Array;
  readonly fields: Int32Array;
  /** instructions given to finished programs */
  used: number;
  /** an emitter is writing into the tail */
  busy: boolean;
}
/** Instructions of a new arena at least (~2.6 MB). */
const ARENA_MIN = 1 << 16;
/** A tail shorter than this is not worth starting a program in. */
const ARENA_MIN_TAIL = 1 << 12;
let shared: Arena | undefined;

function newArena(instructions: number): Arena {
  return { words: new Uint32Array(2 * instructions), opc: new Uint8Array(instructions), fields: new Int32Array(instructions * FIELD_SLOTS), used: 0, busy: false };
}

/** An arena with a free tail for a new emitter, marked busy. */
function claimArena(): Arena {
  let a = shared;
  // busy: another emitter is still writing (or was abandoned by a builder that threw): this one starts a new arena
  if (a === undefined || a.busy || a.opc.length - a.used < ARENA_MIN_TAIL) a = shared = newArena(ARENA_MIN);
  a.busy = true;
  return a;
}

export class ProgramEmitter {
  readonly file: string;
  private readonly capacity: Partial<Record<MemorySpace, number>>;
  private arena = claimArena();
  /** The free tail of the arena, from this program's first instruction. */
  private words = this.arena.words.subarray(2 * this.arena.used);
  /** The same instructions decoded (opcode, FIELD_SLOTS values each), so a loader need not decode the words. */
  private opc = this.arena.opc.subarray(this.arena.used);
  private fields = this.arena.fields.subarray(this.arena.used * FIELD_SLOTS);
  private n = 0;
  /** The program, once finished (it owns its part of the arena: nothing more can be emitted). */
  private finished: Program | undefined;
  private readonly notes: Note[] = [];
  private readonly buffers = new Map<string, BufferSymbol & { readonly note: number }>();
  private readonly labels = new Map<string, number>();
  /** branch instructions whose target (a label or absolute pc) is resolved at finish */
  private readonly fixups: { readonly pc: number; readonly row: Row; readonly field: number; readonly target: Operand }[] = [];
  private readonly allocated: Record<MemorySpace, number> = { dram: 0, spad: 0, acc: 0 };

  constructor(file: string, capacity: Partial<Record<MemorySpace, number>> = {}) {
    this.file = file;
    this.capacity = capacity;
  }

  /** The number of instructions emitted so far (the pc of the next one). */
  get pc(): number {
    return this.n;
  }

  /** A comment line in the listing, before the next instruction. */
  comment(text: string): void {
    this.notes.push({ pc: this.n, text: `; ${text}` });
  }

  /**
   * A named region, allocated as `.buffer NAME, SPACE, SIZE` would be (default alignment); returns its address
   * (bytes for dram and spad, int32 words for acc). Past the capacity: an AsmError E011, as the assembler reports it.
   */
  buffer(name: string, space: MemorySpace, size: number, comment?: string): number {
    if (this.buffers.has(name)) throw new EmitError(`buffer '${name}' defined twice`);
    if (!Number.isInteger(size) || size < 0) throw new EmitError(`buffer '${name}': size ${size} is not a non-negative integer`);
    const address = Math.ceil(this.allocated[space] / ALIGN[space]) * ALIGN[space];
    const text = `.buffer ${name}, ${space}, ${size}${comment ? `     ; ${comment}` : ''}`;
    this.notes.push({ pc: this.n, text });
    const cap = this.capacity[space];
    if (cap !== undefined && address + size > cap) {
      const unit = space === 'acc' ? 'words' : 'bytes';
      const line = this.notes.length; // the header lines render first, one per note
      const d: Diagnostic = {
        code: 'E011', file: this.file, line, col: 9, length: name.length, sourceLine: text,
        message: `buffer '${name}' needs ${size} ${unit} of ${space} at ${address}, but ${space} holds ${cap} ${unit} (${address + size - cap} over)`,
      };
      throw new AsmError([d]);
    }
    this.allocated[space] = address + size;
    this.buffers.set(name, { name, space, address, size, line: 0, note: this.notes.length - 1 });
    return address;
  }

  /**
   * `li rd, imm` (the operand loads are most of a tiled program's instructions: no generic dispatch). `buffer`: imm
   * is an address in that buffer, and the listing says so (`li r23, xa + 32`; the same word either way).
   */
  li(rd: number, imm: number, buffer?: string): void {
    if (buffer !== undefined) {
      if (!this.buffers.has(buffer)) throw new EmitError(`li: operand 2 names buffer '${buffer}', which is not declared`);
      this.symPcs.push(this.n);
      this.symNames.push(buffer);
    }
    if (!Number.isInteger(rd) || rd < 0 || rd > 31) throw new EmitError(`li: operand 1 (rd) ${rd}: register out of range r0..r31`);
    if (!Number.isInteger(imm) || imm < -2147483648 || imm > 2147483647) throw new EmitError(`li: operand 2 (imm) ${imm}: immediate outside -2147483648..2147483647`);
    if (2 * this.n + 2 > this.words.length || this.finished !== undefined) this.grow();
    const v = this.liScratch;
    v[0] = rd;
    v[1] = imm;
    encodeInto(LI, v, this.words, 2 * this.n);
    this.opc[this.n] = LI.opcode;
    const f = this.fields, o = this.n * FIELD_SLOTS;
    f[o] = rd;
    f[o + 1] = imm;
    for (let i = 2; i < FIELD_SLOTS; i++) f[o + i] = 0;
    this.n++;
  }
  private readonly liScratch: number[] = [0, 0];
  /** the `li`s whose immediate is an address in a named buffer (pcs ascending) */
  private readonly symPcs: number[] = [];
  private readonly symNames: string[] = [];

  /**
   * A comment at the end of the last instruction's line in the listing (`    vmax.vx v0, v0, r21      ; x = max(x, lo)`).
   * Several on one instruction are joined with '; '.
   */
  remark(text: string): void {
    const pc = this.n - 1;
    if (pc < 0) throw new EmitError('remark before the first instruction');
    const last = this.remarkPcs.length - 1;
    if (last >= 0 && this.remarkPcs[last] === pc) this.remarkTexts[last] += `; ${text}`;
    else {
      this.remarkPcs.push(pc);
      this.remarkTexts.push(text);
    }
  }
  private readonly remarkPcs: number[] = [];
  private readonly remarkTexts: string[] = [];

  /** A branch target at the next instruction. */
  label(name: string): void {
    if (this.labels.has(name)) throw new EmitError(`label '${name}' defined twice`);
    this.labels.set(name, this.n);
    this.notes.push({ pc: this.n, text: `${name}:` });
  }

  /** Emits one instruction of the row `mnemonic`, its operands checked against the row's fields. */
  op(mnemonic: string, ...operands: Operand[]): void {
    const row = ROWS.get(mnemonic) ?? compileRow(mnemonic);
    const kinds = row.kinds, nf = kinds.length;
    if (operands.length !== nf) throw new EmitError(`${mnemonic}: expected ${nf} operands, got ${operands.length}`);
    if (2 * this.n + 2 > this.words.length || this.finished !== undefined) this.grow();
    const values = row.values, f = this.fields, o = this.n * FIELD_SLOTS;
    for (let i = 0; i < nf; i++) {
      const v = operands[i]!;
      let x: number;
      switch (kinds[i]) {
        case K_SREG:
        case K_VREG:
          x = typeof v === 'number' ? v : regNumber(v, kinds[i] === K_SREG ? 114 /* r */ : 118 /* v */);
          if (!Number.isInteger(x) || x < 0 || x > row.max[i]!) badOperand(row, i, v);
          break;
        case K_ENUM:
          x = typeof v === 'string' ? row.names[i]!.indexOf(v) : v;
          if (!Number.isInteger(x) || x < 0 || x > row.max[i]!) badOperand(row, i, v);
          break;
        case K_TARGET:
          // resolved at finish (labels may come later); the word and the slot are written there
          if (typeof v === 'number' && !Number.isInteger(v)) badOperand(row, i, v);
          this.fixups.push({ pc: this.n, row, field: i, target: v });
          x = 0;
          break;
        default:
          if (typeof v !== 'number' || !Number.isInteger(v) || v < row.min[i]! || v > row.max[i]!) badOperand(row, i, v);
          x = v;
      }
      values[i] = x;
      f[o + i] = x;
    }
    for (let i = nf; i < FIELD_SLOTS; i++) f[o + i] = 0;
    if (row.hasTarget) {
      this.words[2 * this.n] = 0;
      this.words[2 * this.n + 1] = 0;
    } else encodeInto(row.def, values, this.words, 2 * this.n);
    this.opc[this.n] = row.def.opcode;
    this.n++;
  }

  private grow(): void {
    if (this.finished !== undefined) throw new EmitError(`${this.file}: instruction emitted after finish()`);
    const old = this.arena;
    const a = newArena(Math.max(ARENA_MIN, 2 * this.opc.length));
    a.words.set(this.words.subarray(0, 2 * this.n));
    a.opc.set(this.opc.subarray(0, this.n));
    a.fields.set(this.fields.subarray(0, this.n * FIELD_SLOTS));
    old.busy = false;
    a.busy = true;
    if (shared === old) shared = a;
    this.arena = a;
    this.words = a.words;
    this.opc = a.opc;
    this.fields = a.fields;
  }

  /** The finished program: words, buffers, labels, and the listing with its line of every instruction. */
  finish(): Program {
    if (this.finished !== undefined) return this.finished;
    for (const fx of this.fixups) {
      const def = fx.row.def, v = fx.target;
      const at = typeof v === 'string' ? this.labels.get(v) : v;
      if (at === undefined) throw new EmitError(`${def.mnemonic} at pc ${fx.pc}: undefined label '${String(v)}'`);
      if (at < 0 || at > this.n) throw new EmitError(`${def.mnemonic} at pc ${fx.pc}: target ${at} outside the program (0..${this.n})`);
      const o = fx.pc * FIELD_SLOTS;
      this.fields[o + fx.field] = at - fx.pc;
      const values = Array.from(this.fields.subarray(o, o + def.fields.length));
      encodeInto(def, values, this.words, 2 * fx.pc);
    }
    const words = this.words.subarray(0, 2 * this.n);
    const notes = this.notes;
    // Line numbers of the listing: notes before an instruction render first, one line each.
    const lines = new Int32Array(this.n);
    const noteLine = new Int32Array(notes.length);
    let line = 0, k = 0;
    for (let pc = 0; pc <= this.n; pc++) {
      while (k < notes.length && notes[k]!.pc === pc) noteLine[k++] = ++line;
      if (pc < this.n) lines[pc] = ++line;
    }
    const buffers = new Map<string, BufferSymbol>();
    for (const [name, b] of this.buffers) buffers.set(name, { name, space: b.space, address: b.address, size: b.size, line: noteLine[b.note]! });
    let listing: string[] | undefined;
    const render = (): string[] => {
      if (listing === undefined) {
        const out: string[] = [];
        const remarkPcs = this.remarkPcs, remarkTexts = this.remarkTexts, symPcs = this.symPcs, symNames = this.symNames;
        let j = 0, q = 0, y = 0;
        const names = new Map<number, string>();
        for (const [name, at] of this.labels) if (!names.has(at)) names.set(at, name);
        const labelOf = (pc: number): string => names.get(pc) ?? String(pc);
        for (let pc = 0; pc <= this.n; pc++) {
          while (j < notes.length && notes[j]!.pc === pc) out.push(notes[j++]!.text);
          if (pc >= this.n) continue;
          let text: string;
          if (y < symPcs.length && symPcs[y] === pc) {
            const [rd, imm] = decode(words[2 * pc]!, words[2 * pc + 1]!).values;
            const name = symNames[y++]!, off = imm! - this.buffers.get(name)!.address;
            text = `    li r${rd}, ${name}${off > 0 ? ` + ${off}` : off < 0 ? ` - ${-off}` : ''}`;
          } else text = `    ${instrText(words[2 * pc]!, words[2 * pc + 1]!, pc, labelOf)}`;
          if (q < remarkPcs.length && remarkPcs[q] === pc) out.push(`${text.padEnd(40)}  ; ${remarkTexts[q++]}`);
          else out.push(text);
        }
        listing = out;
      }
      return listing;
    };
    const program = {
      file: this.file, words, lines, labels: new Map(this.labels), consts: new Map<string, number>(), buffers,
      allocated: { ...this.allocated },
    };
    Object.defineProperty(program, 'sourceLines', { get: render, enumerable: true });
    DECODED.set(words, { opc: this.opc.subarray(0, this.n), fields: this.fields.subarray(0, this.n * FIELD_SLOTS) });
    const done = program as typeof program & { readonly sourceLines: readonly string[] };
    this.finished = done;
    // the program keeps its part of the arena; the next emitter starts after it
    this.arena.used += this.n;
    this.arena.busy = false;
    return done;
  }
}

/** One instruction as the disassembler prints it (the listing is rendered rarely; the words are the program). */
function instrText(lo: number, hi: number, pc: number, labelOf: (pc: number) => string): string {
  const d = decode(lo, hi);
  return formatInstr(d.def, d.values, pc, labelOf);
}

/** The listing of a program as one text (what `intnpu asm` accepts, giving the same words and buffers). */
export function programListing(p: Program): string {
  return p.sourceLines.join('\n') + '\n';
}

/**
 * The assembler's capacity check for an emitted program (its buffers were allocated without knowing the machine):
 * every buffer past its space's capacity is an E011 diagnostic, all reported at once in one AsmError.
 */
export function checkCapacity(p: Program, capacity: Partial<Record<MemorySpace, number>>): void {
  const diags: Diagnostic[] = [];
  for (const b of p.buffers.values()) {
    const cap = capacity[b.space];
    if (cap === undefined || b.address + b.size <= cap) continue;
    const unit = b.space === 'acc' ? 'words' : 'bytes';
    diags.push({
      code: 'E011', file: p.file, line: b.line, col: 9, length: b.name.length, sourceLine: p.sourceLines[b.line - 1] ?? '',
      message: `buffer '${b.name}' needs ${b.size} ${unit} of ${b.space} at ${b.address}, but ${b.space} holds ${cap} ${unit} (${b.address + b.size - cap} over)`,
    });
  }
  if (diags.length) throw new AsmError(diags);
}
