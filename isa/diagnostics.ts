// Assembler diagnostics as data: stable codes, one message template each, and the one formatter that
// prints `file:line:col: error[Ecode]: message` with the source line and a caret under the span.

export const DIAGNOSTICS = {
  E001: 'unknown mnemonic or directive',
  E002: 'wrong number of operands',
  E003: 'expected a register',
  E004: 'register out of range',
  E005: 'immediate out of range',
  E006: 'undefined symbol',
  E007: 'duplicate definition',
  E008: 'malformed expression',
  E009: 'bad directive',
  E010: 'unknown enum value',
  E011: 'buffer does not fit in memory',
  E012: 'branch target out of range',
  E013: 'missing parameter',
  E014: 'unknown parameter',
  E015: 'empty operand',
} as const;
export type DiagCode = keyof typeof DIAGNOSTICS;

export interface Diagnostic {
  readonly code: DiagCode;
  readonly message: string;
  readonly file: string;
  /** 1-based line and column; column points at the start of the offending span. */
  readonly line: number;
  readonly col: number;
  readonly length: number;
  readonly sourceLine: string;
}

/** Longest source excerpt printed under a diagnostic; longer lines are cut around the caret. */
const MAX_SHOWN = 120;

export function formatDiagnostic(d: Diagnostic): string {
  const gutter = String(d.line).length;
  const pad = ' '.repeat(gutter);
  let shown = d.sourceLine;
  let col = d.col;
  let len = Math.max(1, d.length);
  if (shown.length > MAX_SHOWN) {
    const from = Math.max(0, Math.min(d.col - 1 - 40, shown.length - MAX_SHOWN));
    shown = `${from > 0 ? '...' : ''}${shown.slice(from, from + MAX_SHOWN)}${from + MAX_SHOWN < d.sourceLine.length ? '...' : ''}`;
    col = d.col - from + (from > 0 ? 3 : 0);
    len = Math.min(len, MAX_SHOWN - (col - 1) + 3);
  }
  const caret = ' '.repeat(Math.max(0, col - 1)) + '^'.repeat(Math.max(1, len));
  const message = d.message.length > 300 ? `${d.message.slice(0, 300)}...` : d.message;
  return (
    `${d.file}:${d.line}:${d.col}: error[${d.code}]: ${message}\n` +
    `${pad} |\n${d.line} | ${shown}\n${pad} | ${caret}`
  );
}

/** Thrown by the assembler with every diagnostic of the file. */
export class AsmError extends Error {
  override readonly name = 'AsmError';
  readonly exitCode = 1;
  readonly diagnostics: readonly Diagnostic[];
  /** Diagnostics dropped by the per-line and per-file caps. */
  readonly suppressed: number;
  constructor(diagnostics: readonly Diagnostic[], suppressed = 0) {
    const total = diagnostics.length + suppressed;
    super(
      diagnostics.map(formatDiagnostic).join('\n') +
        `\n${total} error${total === 1 ? '' : 's'}${suppressed > 0 ? ` (${suppressed} not shown)` : ''}`,
    );
    this.diagnostics = diagnostics;
    this.suppressed = suppressed;
  }
}
