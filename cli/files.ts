// File access of the CLI: every input is a regular file under a size limit (a FIFO, a device or
// /dev/zero behind a symlink is refused before it is opened), outputs name their path when they cannot
// be written, and tensor paths inside case files stay inside the case file's folder unless the user
// allows more with --allow-paths. Errors name the path and the reason, never the file's contents.
import { closeSync, fstatSync, openSync, readSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { bytesToWords } from '../isa/encoding.js';
import { UsageError } from './common.js';

/** Largest input file the CLI reads (programs, cases, tensors, machine files). */
export const MAX_INPUT_BYTES = 256 * 1024 * 1024;

const reason = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));

/** The bytes of a regular file of at most `maxBytes`; anything else is a UsageError naming `shown`. */
export function readInputFile(path: string, shown: string = path, maxBytes: number = MAX_INPUT_BYTES): Buffer {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${shown}: ${reason(e)}`);
  }
  if (st.isDirectory()) throw new UsageError(`cannot read ${shown}: it is a directory`);
  if (!st.isFile()) throw new UsageError(`cannot read ${shown}: not a regular file (a device, FIFO or socket)`);
  if (st.size > maxBytes) throw new UsageError(`cannot read ${shown}: ${st.size} bytes, over the limit of ${maxBytes} bytes`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new UsageError(`cannot read ${shown}: ${reason(e)}`);
  }
  try {
    // Re-check on the open descriptor (the path may have been swapped) and never read past the limit.
    const fst = fstatSync(fd);
    if (!fst.isFile()) throw new UsageError(`cannot read ${shown}: not a regular file`);
    const size = Math.min(fst.size, maxBytes);
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** A .bin program: a regular file whose length is a multiple of 8 bytes (one word per instruction). */
export function readBinary(path: string): Uint32Array {
  const bytes = readInputFile(path);
  try {
    return bytesToWords(bytes);
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
}

export function readInputText(path: string, shown: string = path): string {
  return readInputFile(path, shown).toString('utf8');
}

/** Writes an output file; a missing folder or a permission problem is a UsageError naming the path. */
export function writeOutputFile(path: string, data: string | Uint8Array, what = 'output'): void {
  try {
    writeFileSync(path, data);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `folder ${dirname(resolve(path))} does not exist` : code === 'EISDIR' ? 'it is a directory' : reason(e);
    throw new UsageError(`cannot write ${what} ${path}: ${why}`);
  }
}

/**
 * Resolves a path a case file names (relative to the case file's folder) and checks that it stays
 * inside that folder or one of `allowed` (after symlinks are followed). Returns the real path.
 */
export function resolveCasePath(caseFile: string, field: string, named: string, allowed: readonly string[] = []): string {
  const base = dirname(resolve(caseFile));
  const target = resolve(base, named);
  let real: string;
  try {
    real = realpathSync(target);
  } catch (e) {
    throw new UsageError(`${caseFile}: field ${field}: cannot read ${named}: ${reason(e)}`);
  }
  const roots = [base, ...allowed.map((d) => resolve(d))].map((d) => {
    try {
      return realpathSync(d);
    } catch {
      return d;
    }
  });
  const inside = (root: string): boolean => {
    const rel = relative(root, real);
    return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
  };
  if (!roots.some(inside)) {
    throw new UsageError(
      `${caseFile}: field ${field}: ${named} is outside the case file's folder ${base}; ` +
        `case files read tensors only there (pass --allow-paths DIR to allow another folder)`,
    );
  }
  return real;
}
