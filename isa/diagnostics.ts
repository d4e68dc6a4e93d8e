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

export function formatDiagnostic(d: Diagnostic): string {
  const gutter = String(d.line).length;
  const pad = ' '.repeat(gutter);
  const caret = ' '.repeat(Math.max(0, d.col - 1)) + '^'.repeat(Math.max(1, d.length));
  return (
    `${d.file}:${d.line}:${d.col}: error[${d.code}]: ${d.message}\n` +
    `${pad} |\n${d.line} | ${d.sourceLine}\n${pad} | ${caret}`
  );
}

/** Thrown by the assembler with every diagnostic of the file. */
export class AsmError extends Error {
  override readonly name = 'AsmError';
  readonly exitCode = 1;
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n') + `\n${diagnostics.length} error${diagnostics.length === 1 ? '' : 's'}`);
    this.diagnostics = diagnostics;
  }
}
