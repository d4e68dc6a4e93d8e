// The assembler: labels, comments (; # //), .equ constants, .param (values the host supplies),
// .buffer (named regions of DRAM, scratchpad or accumulator memory, allocated here so programs use
// symbolic addresses), immediate range checks, and every error of a file reported at once.
import { AsmError, DIAGNOSTICS, type DiagCode, type Diagnostic } from './diagnostics.js';
import { encode, fieldRange } from './encoding.js';
import { evalExpr, ExprError } from './expr.js';
import { BY_MNEMONIC, ENUMS, isEnumKind, type InstrDef } from './table.js';

export const MEMORY_SPACES = ['dram', 'spad', 'acc'] as const;
export type MemorySpace = (typeof MEMORY_SPACES)[number];

export interface BufferSymbol {
  readonly name: string;
  readonly space: MemorySpace;
  /** Address in the space's own elements: bytes for dram and spad, int32 words for acc. */
  readonly address: number;
  /** Size in the same elements. */
  readonly size: number;
  readonly line: number;
}

export interface Program {
  readonly file: string;
  /** Two 32-bit halves per instruction (low, high). */
  readonly words: Uint32Array;
  /** 1-based source line of each instruction. */
  readonly lines: Int32Array;
  readonly sourceLines: readonly string[];
  readonly labels: ReadonlyMap<string, number>;
  readonly consts: ReadonlyMap<string, number>;
  readonly buffers: ReadonlyMap<string, BufferSymbol>;
  /** Bytes (dram, spad) or words (acc) allocated by .buffer in each space. */
  readonly allocated: Readonly<Record<MemorySpace, number>>;
}

export interface AsmOptions {
  readonly file?: string;
  /** Values for the program's .param declarations. */
  readonly params?: Readonly<Record<string, number>>;
  /** Capacities to check .buffer allocations against (same units as BufferSymbol). */
  readonly capacity?: Partial<Record<MemorySpace, number>>;
}

const DEFAULT_ALIGN: Record<MemorySpace, number> = { dram: 64, spad: 16, acc: 1 };

interface Operand {
  readonly text: string;
  readonly col: number; // 1-based
}
/**
 * An instruction between the passes: its operands are split again from its source line in pass 2 rather than kept
 * (a generated program of a million lines would otherwise hold several objects and strings per operand at once).
 */
interface PendingInstr {
  readonly def: InstrDef;
  readonly line: number;
  /** 1-based column where the operand text starts (after the mnemonic) */
  readonly restCol: number;
  readonly pc: number;
}

function stripComment(line: string): string {
  const m = /;|#|\/\//.exec(line);
  return m ? line.slice(0, m.index) : line;
}

/** Split at top-level commas, keeping 1-based columns. */
function splitOperands(text: string, baseCol: number): Operand[] {
  if (text.trim() === '') return [];
  const out: Operand[] = [];
  let depth = 0;
  let start = 0;
  const push = (end: number): void => {
    const raw = text.slice(start, end);
    const lead = raw.length - raw.trimStart().length;
    out.push({ text: raw.trim(), col: baseCol + start + lead });
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      push(i);
      start = i + 1;
    }
  }
  push(text.length);
  return out;
}

/** At most this many diagnostics are reported for one source line, and for one file. */
export const MAX_DIAGNOSTICS_PER_LINE = 3;
export const MAX_DIAGNOSTICS_PER_FILE = 50;

/** Source text quoted in a message, cut to a readable length. */
const clip = (t: string): string => (t.length > 40 ? `${t.slice(0, 37)}...` : t);

const IDENT = /^[A-Za-z_.$][\w.$]*$/;

export function assemble(source: string, opts: AsmOptions = {}): Program {
  const file = opts.file ?? '<input>';
  const sourceLines = source.split(/\r?\n/);
  const diags: Diagnostic[] = [];
  // Capped per line and per file, so a pathological line (10,000 empty operands) gives a few
  // diagnostics and a count instead of megabytes of repeated source.
  const perLine = new Map<number, number>();
  let suppressed = 0;
  const err = (code: DiagCode, message: string, line: number, col: number, length: number): void => {
    const onLine = (perLine.get(line) ?? 0) + 1;
    perLine.set(line, onLine);
    if (onLine > MAX_DIAGNOSTICS_PER_LINE || diags.length >= MAX_DIAGNOSTICS_PER_FILE) {
      suppressed++;
      return;
    }
    diags.push({ code, message, file, line, col, length, sourceLine: sourceLines[line - 1] ?? '' });
  };

  const labels = new Map<string, number>();
  const consts = new Map<string, number>();
  const buffers = new Map<string, BufferSymbol>();
  const allocated: Record<MemorySpace, number> = { dram: 0, spad: 0, acc: 0 };
  const declaredParams = new Set<string>();
  const instrs: PendingInstr[] = [];
  const definedAt = new Map<string, number>();

  const define = (name: string, line: number, col: number): boolean => {
    const prev = definedAt.get(name);
    if (prev !== undefined) {
      err('E007', `'${name}' is already defined on line ${prev}`, line, col, name.length);
      return false;
    }
    if (BY_MNEMONIC.has(name) || /^[rv]\d+$/.test(name) || name === 'zero') {
      err('E007', `'${name}' is a reserved name`, line, col, name.length);
      return false;
    }
    definedAt.set(name, line);
    return true;
  };
  const lookupPass1 = (name: string): number | undefined => consts.get(name) ?? buffers.get(name)?.address;
  const exprAt = (op: Operand, line: number, lookup: (n: string) => number | undefined): number | undefined => {
    try {
      return evalExpr(op.text, lookup);
    } catch (e) {
      if (!(e instanceof ExprError)) throw e;
      err(e.undefinedSymbol ? 'E006' : 'E008', e.message, line, op.col + e.offset, e.length);
      return undefined;
    }
  };

  // Pass 1: labels, directives in order, instruction shapes.
  sourceLines.forEach((rawLine, idx) => {
    const line = idx + 1;
    let text = stripComment(rawLine);
    let col = 1;
    const labelMatch = /^(\s*)([A-Za-z_.$][\w.$]*)\s*:/.exec(text);
    if (labelMatch) {
      const name = labelMatch[2]!;
      const lcol = labelMatch[1]!.length + 1;
      if (define(name, line, lcol)) labels.set(name, instrs.length);
      col += labelMatch[0].length;
      text = text.slice(labelMatch[0].length);
    }
    const head = /^(\s*)(\S+)/.exec(text);
    if (!head) return;
    const word = head[2]!;
    const wordCol = col + head[1]!.length;
    const rest = text.slice(head[0].length);
    const operands = splitOperands(rest, wordCol + word.length);
    for (const op of operands) {
      if (op.text === '') err('E015', 'empty operand', line, op.col, 1);
    }
    if (operands.some((o) => o.text === '')) return;

    if (word.startsWith('.')) {
      directive(word.toLowerCase(), wordCol, operands, line);
      return;
    }
    const def = BY_MNEMONIC.get(word.toLowerCase());
    if (!def) {
      err('E001', `unknown mnemonic '${clip(word)}'`, line, wordCol, word.length);
      return;
    }
    if (operands.length !== def.fields.length) {
      const want = def.fields.map((fd) => fd.name).join(', ');
      err('E002', `${def.mnemonic} takes ${def.fields.length} operand${def.fields.length === 1 ? '' : 's'} (${want || 'none'}), got ${operands.length}`, line, wordCol, word.length);
      return;
    }
    instrs.push({ def, line, restCol: wordCol + word.length, pc: instrs.length });
  });

  function directive(name: string, col: number, ops: readonly Operand[], line: number): void {
    const want = (n: number, m: number, usage: string): boolean => {
      if (ops.length < n || ops.length > m) {
        err('E009', `usage: ${usage}`, line, col, name.length);
        return false;
      }
      return true;
    };
    const ident = (op: Operand): string | undefined => {
      if (!IDENT.test(op.text)) {
        err('E009', `expected a name, got '${clip(op.text)}'`, line, op.col, op.text.length);
        return undefined;
      }
      return op.text;
    };
    switch (name) {
      case '.equ': {
        if (!want(2, 2, '.equ NAME, expression')) return;
        const n = ident(ops[0]!);
        const v = exprAt(ops[1]!, line, lookupPass1);
        if (n !== undefined && v !== undefined && define(n, line, ops[0]!.col)) consts.set(n, v);
        return;
      }
      case '.param': {
        if (!want(1, 2, '.param NAME [, default]')) return;
        const n = ident(ops[0]!);
        if (n === undefined) return;
        declaredParams.add(n);
        // Own keys only: `.param constructor` must not pick up Object.prototype.constructor.
        const given = opts.params !== undefined && Object.hasOwn(opts.params, n) ? opts.params[n] : undefined;
        if (given !== undefined && !Number.isSafeInteger(given)) {
          err('E005', `parameter '${n}' was given ${String(given)}, not a safe integer`, line, ops[0]!.col, n.length);
          return;
        }
        let v: number | undefined = given;
        if (v === undefined && ops[1]) v = exprAt(ops[1], line, lookupPass1);
        else if (v === undefined) {
          err('E013', `parameter '${n}' has no default and was not supplied`, line, ops[0]!.col, n.length);
          return;
        }
        if (v !== undefined && define(n, line, ops[0]!.col)) consts.set(n, v);
        return;
      }
      case '.buffer': {
        if (!want(3, 4, '.buffer NAME, dram|spad|acc, size [, align]')) return;
        const n = ident(ops[0]!);
        const spaceText = ops[1]!.text.toLowerCase();
        if (!(MEMORY_SPACES as readonly string[]).includes(spaceText)) {
          err('E010', `memory space must be dram, spad or acc, got '${clip(ops[1]!.text)}'`, line, ops[1]!.col, ops[1]!.text.length);
          return;
        }
        const space = spaceText as MemorySpace;
        const size = exprAt(ops[2]!, line, lookupPass1);
        const align = ops[3] ? exprAt(ops[3], line, lookupPass1) : DEFAULT_ALIGN[space];
        if (n === undefined || size === undefined || align === undefined) return;
        if (size < 0 || align < 1) {
          err('E009', `buffer size must be >= 0 and alignment >= 1 (got ${size}, ${align})`, line, ops[2]!.col, ops[2]!.text.length);
          return;
        }
        const address = Math.ceil(allocated[space] / align) * align;
        const cap = opts.capacity?.[space];
        const unit = space === 'acc' ? 'words' : 'bytes';
        if (cap !== undefined && address + size > cap) {
          err('E011', `buffer '${n}' needs ${size} ${unit} of ${space} at ${address}, but ${space} holds ${cap} ${unit} (${address + size - cap} over)`, line, ops[0]!.col, n.length);
          return;
        }
        if (define(n, line, ops[0]!.col)) {
          buffers.set(n, { name: n, space, address, size, line });
          allocated[space] = address + size;
        }
        return;
      }
      default:
        err('E001', `unknown directive '${clip(name)}'`, line, col, name.length);
    }
  }

  for (const p of Object.keys(opts.params ?? {})) {
    if (!declaredParams.has(p)) {
      err('E014', `parameter '${p}' is not declared by a .param in this program`, 1, 1, 1);
    }
  }

  // Pass 2: operands, with every label known.
  const lookup = (name: string): number | undefined => labels.get(name) ?? lookupPass1(name);
  const words = new Uint32Array(instrs.length * 2);
  const lines = new Int32Array(instrs.length);
  for (const ins of instrs) {
    const values: number[] = [];
    let ok = true;
    const operands = splitOperands(stripComment(sourceLines[ins.line - 1]!).slice(ins.restCol - 1), ins.restCol);
    ins.def.fields.forEach((fd, i) => {
      const op = operands[i]!;
      const v = operandValue(ins, fd.kind, fd.name, op);
      if (v === undefined) ok = false;
      else values.push(v);
    });
    lines[ins.pc] = ins.line;
    if (ok) {
      const [lo, hi] = encode(ins.def, values);
      words[ins.pc * 2] = lo;
      words[ins.pc * 2 + 1] = hi;
    }
  }

  function operandValue(ins: PendingInstr, kind: InstrDef['fields'][number]['kind'], fieldName: string, op: Operand): number | undefined {
    const line = ins.line;
    if (kind === 'sreg' || kind === 'vreg') {
      const prefix = kind === 'sreg' ? 'r' : 'v';
      const what = kind === 'sreg' ? 'scalar register (r0..r31)' : 'vector register (v0..v31)';
      if (kind === 'sreg' && op.text.toLowerCase() === 'zero') return 0;
      const m = /^([rv])(\d+)$/i.exec(op.text);
      if (!m || m[1]!.toLowerCase() !== prefix) {
        err('E003', `${ins.def.mnemonic} operand '${fieldName}' must be a ${what}, got '${clip(op.text)}'`, line, op.col, op.text.length);
        return undefined;
      }
      const n = Number(m[2]);
      if (n > 31) {
        err('E004', `register ${op.text} does not exist (${prefix}0..${prefix}31)`, line, op.col, op.text.length);
        return undefined;
      }
      return n;
    }
    if (isEnumKind(kind)) {
      const names: readonly string[] = ENUMS[kind];
      const idx = names.indexOf(op.text.toLowerCase());
      if (idx < 0) {
        err('E010', `${ins.def.mnemonic} operand '${fieldName}' must be one of ${names.join(', ')}, got '${clip(op.text)}'`, line, op.col, op.text.length);
        return undefined;
      }
      return idx;
    }
    const v = exprAt(op, line, lookup);
    if (v === undefined) return undefined;
    const r = fieldRange(kind);
    if (kind === 'target') {
      const rel = v - ins.pc;
      if (v < 0 || v > instrs.length || rel < r.min || rel > r.max) {
        err('E012', `branch target ${v} is outside the program (0..${instrs.length})`, line, op.col, op.text.length);
        return undefined;
      }
      return rel;
    }
    if (v < r.min || v > r.max) {
      err('E005', `immediate ${v} does not fit ${kind} (${r.min}..${r.max})`, line, op.col, op.text.length);
      return undefined;
    }
    return v;
  }

  if (diags.length > 0) {
    diags.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new AsmError(diags, suppressed);
  }
  return { file, words, lines, sourceLines, labels, consts, buffers, allocated };
}

export { DIAGNOSTICS };

/**
 * Warnings about a program that assembled: one without any `halt` ends only by running off its last
 * instruction, which is legal (an implicit halt) but usually a forgotten line.
 */
export function programWarnings(prog: Program): string[] {
  const halt = BY_MNEMONIC.get('halt')!.opcode;
  for (let pc = 0; pc < prog.words.length >> 1; pc++) if ((prog.words[pc * 2]! & 0xff) === halt) return [];
  return [`${prog.file}: warning: the program has no halt; it ends by running off its last instruction`];
}
