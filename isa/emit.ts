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

type OpFn = (operands: readonly Operand[]) => void;

interface Note {
  readonly pc: number;
  readonly text: string;
}

/** Operand -> field value for one field kind, checked (the builder's bug is an EmitError naming the row and field). */
function checker(def: InstrDef, i: number): (v: Operand) => number | string {
  const fd = def.fields[i]!;
  const kind: FieldKind = fd.kind;
  const r = fieldRange(kind);
  const bad = (v: Operand, why: string): never => {
    throw new EmitError(`${def.mnemonic}: operand ${i + 1} (${fd.name}) ${JSON.stringify(v)}: ${why}`);
  };
  if (kind === 'sreg' || kind === 'vreg') {
    const prefix = kind === 'sreg' ? 'r' : 'v';
    return (v) => {
      let n = v;
      if (typeof v === 'string') {
        if (v[0] !== prefix) bad(v, `expected a ${prefix} register`);
        n = Number(v.slice(1));
      }
      if (typeof n !== 'number' || !Number.isInteger(n) || n < r.min || n > r.max) bad(v, `register out of range ${prefix}${r.min}..${prefix}${r.max}`);
      return n;
    };
  }
  if (isEnumKind(kind)) {
    const names: readonly string[] = ENUMS[kind];
    return (v) => {
      const n = typeof v === 'string' ? names.indexOf(v) : v;
      if (!Number.isInteger(n) || n < 0 || n >= names.length) bad(v, `expected one of ${names.join(', ')}`);
      return n;
    };
  }
  if (kind === 'target') return (v) => v; // resolved at finish (labels may come later)
  return (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < r.min || v > r.max) bad(v, `immediate outside ${r.min}..${r.max}`);
    return v;
  };
}

/** An emitter's working arrays (grown by doubling). */
interface Scratch {
  readonly words: Uint32Array;
  readonly opc: Uint8Array;
  readonly fields: Int32Array;
}

/**
 * Working arrays of finished emitters, for the next ones (PERF: a layer builds programs of up to ~250 k
 * instructions one after another; growing fresh arrays for each cost more than emitting). Their fields are zero.
 */
const POOL: Scratch[] = [];
const POOL_SIZE = 2;

function scratch(): Scratch {
  return POOL.pop() ?? { words: new Uint32Array(4096), opc: new Uint8Array(2048), fields: new Int32Array(2048 * FIELD_SLOTS) };
}

export class ProgramEmitter {
  readonly file: string;
  private readonly capacity: Partial<Record<MemorySpace, number>>;
  private readonly scratch = scratch();
  private words = this.scratch.words;
  /** The same instructions decoded (opcode, FIELD_SLOTS values each), so a loader need not decode the words. */
  private opc = this.scratch.opc;
  private fields = this.scratch.fields;
  private n = 0;
  /** The program, once finished (the working arrays went back to the pool: nothing more can be emitted). */
  private finished: Program | undefined;
  private readonly notes: Note[] = [];
  private readonly buffers = new Map<string, BufferSymbol & { readonly note: number }>();
  private readonly labels = new Map<string, number>();
  private readonly fixups: { pc: number; def: InstrDef; values: (number | string)[] }[] = [];
  private readonly allocated: Record<MemorySpace, number> = { dram: 0, spad: 0, acc: 0 };
  private readonly fns = new Map<string, OpFn>();

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

  /** `li rd, imm` (the operand loads are most of a tiled program's instructions: no generic dispatch). */
  li(rd: number, imm: number): void {
    if (!Number.isInteger(rd) || rd < 0 || rd > 31) throw new EmitError(`li: operand 1 (rd) ${rd}: register out of range r0..r31`);
    if (!Number.isInteger(imm) || imm < -2147483648 || imm > 2147483647) throw new EmitError(`li: operand 2 (imm) ${imm}: immediate outside -2147483648..2147483647`);
    this.liScratch[0] = rd;
    this.liScratch[1] = imm;
    this.pushNumbers(LI, this.liScratch);
  }
  private readonly liScratch: number[] = [0, 0];

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
    let fn = this.fns.get(mnemonic);
    if (fn === undefined) {
      fn = this.rowFn(mnemonic);
      this.fns.set(mnemonic, fn);
    }
    fn(operands);
  }

  private rowFn(mnemonic: string): OpFn {
    const def = BY_MNEMONIC.get(mnemonic);
    if (def === undefined) throw new EmitError(`unknown mnemonic '${mnemonic}'`);
    const checks = def.fields.map((_, i) => checker(def, i));
    const hasTarget = def.fields.some((f) => f.kind === 'target');
    const scratch: (number | string)[] = new Array<number | string>(checks.length).fill(0);
    return (operands) => {
      if (operands.length !== checks.length) throw new EmitError(`${mnemonic}: expected ${checks.length} operands, got ${operands.length}`);
      for (let i = 0; i < checks.length; i++) scratch[i] = checks[i]!(operands[i]!);
      if (hasTarget) {
        this.fixups.push({ pc: this.n, def, values: [...scratch] });
        this.push(0, 0, def.opcode, scratch);
        return;
      }
      this.pushNumbers(def, scratch as number[]);
    };
  }

  /** One instruction whose operands are all numbers: encoded straight into the word array (PERF: no pair array). */
  private pushNumbers(def: InstrDef, values: readonly number[]): void {
    if (2 * this.n + 2 > this.words.length || this.finished !== undefined) this.grow();
    encodeInto(def, values, this.words, 2 * this.n);
    this.opc[this.n] = def.opcode;
    const o = this.n * FIELD_SLOTS;
    for (let i = 0; i < values.length; i++) this.fields[o + i] = values[i]!;
    this.n++;
  }

  private grow(): void {
    if (this.finished !== undefined) throw new EmitError(`${this.file}: instruction emitted after finish()`);
    const grown = new Uint32Array(this.words.length * 2);
    grown.set(this.words);
    this.words = grown;
    const opc = new Uint8Array(this.opc.length * 2);
    opc.set(this.opc);
    this.opc = opc;
    const fields = new Int32Array(this.fields.length * 2);
    fields.set(this.fields);
    this.fields = fields;
  }

  private push(lo: number, hi: number, opcode: number, values: readonly (number | string)[]): void {
    if (2 * this.n + 2 > this.words.length || this.finished !== undefined) this.grow();
    this.words[2 * this.n] = lo;
    this.words[2 * this.n + 1] = hi;
    this.opc[this.n] = opcode;
    const o = this.n * FIELD_SLOTS;
    // targets are strings until finish() resolves them; their slot is written there
    for (let i = 0; i < values.length; i++) this.fields[o + i] = typeof values[i] === 'number' ? (values[i] as number) : 0;
    this.n++;
  }

  /** The finished program: words, buffers, labels, and the listing with its line of every instruction. */
  finish(): Program {
    if (this.finished !== undefined) return this.finished;
    for (const f of this.fixups) {
      const values = f.def.fields.map((fd, i) => {
        const v = f.values[i]!;
        if (fd.kind !== 'target') return v as number;
        const at = typeof v === 'string' ? this.labels.get(v) : v;
        if (at === undefined) throw new EmitError(`${f.def.mnemonic} at pc ${f.pc}: undefined label '${String(v)}'`);
        if (at < 0 || at > this.n) throw new EmitError(`${f.def.mnemonic} at pc ${f.pc}: target ${at} outside the program (0..${this.n})`);
        return at - f.pc;
      });
      encodeInto(f.def, values, this.words, 2 * f.pc);
      values.forEach((v, i) => (this.fields[f.pc * FIELD_SLOTS + i] = v));
    }
    const words = this.words.slice(0, 2 * this.n);
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
        const remarkPcs = this.remarkPcs, remarkTexts = this.remarkTexts;
        let j = 0, q = 0;
        const labelOf = (pc: number): string => {
          for (const [name, at] of this.labels) if (at === pc) return name;
          return String(pc);
        };
        for (let pc = 0; pc <= this.n; pc++) {
          while (j < notes.length && notes[j]!.pc === pc) out.push(notes[j++]!.text);
          if (pc >= this.n) continue;
          const text = `    ${instrText(words[2 * pc]!, words[2 * pc + 1]!, pc, labelOf)}`;
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
    DECODED.set(words, { opc: this.opc.slice(0, this.n), fields: this.fields.slice(0, this.n * FIELD_SLOTS) });
    const done = program as typeof program & { readonly sourceLines: readonly string[] };
    this.finished = done;
    // the working arrays (possibly grown) go to the pool with their fields zeroed, as fresh ones are
    this.fields.fill(0, 0, this.n * FIELD_SLOTS);
    if (POOL.length < POOL_SIZE) POOL.push({ words: this.words, opc: this.opc, fields: this.fields });
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
