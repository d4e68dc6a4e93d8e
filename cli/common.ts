// Shared CLI plumbing: exit codes, error reporting without stack traces, JSON file reading.
import { assertDepth } from '../kernels/ref/case-parse.js';
import { parseNpy, toNested } from '../kernels/ref/npy.js';
import { readInputFile, readInputText, resolveCasePath } from './files.js';

export const EXIT = { ok: 0, badInput: 1, mismatch: 2, internal: 3 } as const;

/** An error the user caused (bad file, bad flag); printed without a stack trace, exit 1. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = 1;
}

function exitCodeOf(e: unknown): number | undefined {
  if (typeof e === 'object' && e !== null && 'exitCode' in e && typeof e.exitCode === 'number') return e.exitCode;
  return undefined;
}

/** Wraps a command handler: known errors print their message (exit 1 or their own code); others exit 3. */
export function handler<A>(fn: (args: A) => number | void | Promise<number | void>): (args: A) => Promise<void> {
  return async (args: A) => {
    try {
      const code = await fn(args);
      process.exitCode = code ?? EXIT.ok;
    } catch (e) {
      const code = exitCodeOf(e);
      if (code !== undefined) {
        process.stderr.write(`${(e as Error).message}\n`);
        process.exitCode = code;
      } else {
        const msg = e instanceof Error ? e.message : String(e);
        process.stderr.write(`intnpu: internal error: ${msg}\n`);
        if (process.env['INTNPU_DEBUG'] && e instanceof Error) process.stderr.write(`${e.stack}\n`);
        else process.stderr.write('(set INTNPU_DEBUG=1 for the stack trace, and please report it)\n');
        process.exitCode = EXIT.internal;
      }
    }
  };
}

/** Size flags (--seq, --hidden, ...): positive integers up to `max`; a UsageError names every bad one. */
export function sizeArgs<K extends string>(flags: Record<K, unknown>, max = 16384): Record<K, number> {
  const bad = Object.entries(flags).filter(([, v]) => typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max);
  if (bad.length > 0) {
    throw new UsageError(bad.map(([k, v]) => `--${k} ${String(v)}: expected a whole number from 1 to ${max}`).join('\n'));
  }
  return flags as Record<K, number>;
}

export function readText(path: string): string {
  return readInputText(path);
}

/** JSON from a file; nesting deeper than the formats use is refused before any schema walks it. */
export function readJson(path: string): unknown {
  const text = readText(path);
  let v: unknown;
  try {
    v = JSON.parse(text) as unknown;
  } catch (e) {
    // V8's message quotes the text around the error: keep only the position.
    const at = /position \d+(?: \(line \d+ column \d+\))?/.exec((e as Error).message)?.[0];
    throw new UsageError(`${path}: not valid JSON${at ? ` (at ${at})` : ''}`);
  }
  try {
    assertDepth(v);
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
  return v;
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

/** A fixed-width text table. */
export function table(rows: ReadonlyArray<readonly (string | number)[]>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const widths: number[] = [];
  for (const r of cells) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export function formatNumber(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  if (Math.abs(v) >= 100) return v.toFixed(1);
  return v.toPrecision(4);
}

/**
 * A case file: JSON whose top-level fields may name .npy files (paths relative to the case file), each
 * replaced by its array, nested by its shape. So `{"x_int": "x.npy", ...}` takes a tensor saved by NumPy.
 * Those paths must stay inside the case file's folder (symlinks followed) or a folder in `allowPaths`.
 */
export function readCase(path: string, allowPaths: readonly string[] = []): unknown {
  const json = readJson(path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return json;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    if (typeof v === 'string' && v.endsWith('.npy')) {
      const file = resolveCasePath(path, k, v, allowPaths);
      const bytes = readInputFile(file, `${path}: field ${k}: ${v}`);
      out[k] = toNested(parseNpy(bytes, `${path}: field ${k} (${v})`));
    } else out[k] = v;
  }
  return out;
}
