// Constant expressions in assembler operands: integers (decimal, 0x, 0b, with _ separators), symbols,
// parentheses, unary - ~, and * / % << >> & | ^ + - with C precedence. `/` and `%` floor, like the
// hardware's arithmetic shifts, so that `-7 / 2 == -4` and address arithmetic never rounds toward zero.

export class ExprError extends Error {
  readonly offset: number;
  readonly length: number;
  readonly undefinedSymbol: boolean;
  constructor(message: string, offset: number, length: number, undefinedSymbol = false) {
    super(message);
    this.offset = offset;
    this.length = length;
    this.undefinedSymbol = undefinedSymbol;
  }
}

type Tok = { kind: 'num' | 'id' | 'op'; text: string; value: number; pos: number };

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  const re = /\s*(?:(0x[0-9a-fA-F_]+|0b[01_]+|\d[\d_]*)|([A-Za-z_.$][\w.$]*)|(<<|>>|[-+*/%&|^~()]))/y;
  const blank = /\s*$/y;
  const space = /\s*/y;
  let pos = 0;
  while (pos < src.length) {
    blank.lastIndex = pos;
    if (blank.test(src)) break;
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) {
      space.lastIndex = pos;
      space.test(src);
      const at = space.lastIndex;
      throw new ExprError(`unexpected character '${src[at]}'`, at, 1);
    }
    const start = m.index + m[0].length - (m[1] ?? m[2] ?? m[3] ?? '').length;
    if (m[1] !== undefined) {
      const clean = m[1].replace(/_/g, '');
      const value = clean.startsWith('0b') ? parseInt(clean.slice(2), 2) : Number(clean);
      if (!Number.isSafeInteger(value)) throw new ExprError(`number ${m[1].length > 24 ? `${m[1].slice(0, 20)}...` : m[1]} is beyond 2^53 (not a safe integer)`, start, m[1].length);
      toks.push({ kind: 'num', text: m[1], value, pos: start });
    } else if (m[2] !== undefined) {
      toks.push({ kind: 'id', text: m[2], value: 0, pos: start });
    } else {
      toks.push({ kind: 'op', text: m[3]!, value: 0, pos: start });
    }
    pos = re.lastIndex;
  }
  return toks;
}

/** Deepest nesting of parentheses and unary operators an expression may have (the parser recurses). */
export const MAX_EXPR_DEPTH = 64;

const BINARY: ReadonlyArray<readonly string[]> = [['|'], ['^'], ['&'], ['<<', '>>'], ['+', '-'], ['*', '/', '%']];

/** Evaluate `src`; `lookup` returns undefined for an unknown symbol. */
export function evalExpr(src: string, lookup: (name: string) => number | undefined): number {
  const toks = tokenize(src);
  if (toks.length === 0) throw new ExprError('empty expression', 0, Math.max(1, src.length));
  let i = 0;
  let depth = 0;
  const peek = (): Tok | undefined => toks[i];
  const check = (v: number, t: Tok): number => {
    if (!Number.isSafeInteger(v)) throw new ExprError('expression overflows a safe integer', t.pos, t.text.length);
    return v;
  };
  // Bitwise operators work on 32-bit values; wider operands would be truncated silently.
  const bits32 = (v: number, t: Tok): number => {
    if (v < -(2 ** 31) || v > 2 ** 32 - 1) throw new ExprError(`operand ${v} of '${t.text}' does not fit 32 bits`, t.pos, t.text.length);
    return v;
  };
  const primary = (): number => {
    const t = toks[i++];
    if (!t) throw new ExprError('expression ends early', src.length, 1);
    if (++depth > MAX_EXPR_DEPTH) throw new ExprError(`expression nests deeper than ${MAX_EXPR_DEPTH} levels`, t.pos, t.text.length);
    try {
      return primaryOf(t);
    } finally {
      depth--;
    }
  };
  const primaryOf = (t: Tok): number => {
    if (t.kind === 'num') return t.value;
    if (t.kind === 'id') {
      const v = lookup(t.text);
      if (v === undefined) throw new ExprError(`undefined symbol '${t.text}'`, t.pos, t.text.length, true);
      return v;
    }
    if (t.text === '(') {
      const v = level(0);
      const close = toks[i++];
      if (!close || close.text !== ')') throw new ExprError("missing ')'", close?.pos ?? src.length, 1);
      return v;
    }
    if (t.text === '-') return check(-primary(), t);
    if (t.text === '+') return primary();
    if (t.text === '~') return ~bits32(primary(), t);
    throw new ExprError(`unexpected '${t.text}'`, t.pos, t.text.length);
  };
  const apply = (op: Tok, a: number, b: number): number => {
    switch (op.text) {
      case '|': return bits32(a, op) | bits32(b, op);
      case '^': return bits32(a, op) ^ bits32(b, op);
      case '&': return bits32(a, op) & bits32(b, op);
      case '<<':
      case '>>': {
        if (b < 0 || b > 63) throw new ExprError(`shift count ${b} is outside 0..63`, op.pos, op.text.length);
        return op.text === '<<' ? check(a * 2 ** b, op) : Math.floor(a / 2 ** b);
      }
      case '+': return check(a + b, op);
      case '-': return check(a - b, op);
      case '*': return check(a * b, op);
      case '/':
      case '%': {
        if (b === 0) throw new ExprError('division by zero', op.pos, 1);
        const q = Math.floor(a / b);
        return op.text === '/' ? q : a - q * b;
      }
      default: throw new ExprError(`unknown operator '${op.text}'`, op.pos, op.text.length);
    }
  };
  const level = (n: number): number => {
    if (n === BINARY.length) return primary();
    let v = level(n + 1);
    for (let t = peek(); t && t.kind === 'op' && BINARY[n]!.includes(t.text); t = peek()) {
      i++;
      v = apply(t, v, level(n + 1));
    }
    return v;
  };
  const v = level(0);
  const rest = peek();
  if (rest) throw new ExprError(`unexpected '${rest.text}'`, rest.pos, rest.text.length);
  return v;
}
