// Runs the built CLI (dist/cli/main.js) as a user would, for the CLI test files.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MAIN = join(ROOT, 'dist/cli/main.js');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `intnpu ARGS` in `cwd` (with `env` added to this process's); a spawn failure (not a non-zero exit) throws. */
export function runCli(args: readonly string[], cwd: string, timeoutMs: number, env?: Readonly<Record<string, string>>): Run {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: 'utf8', timeout: timeoutMs, ...(env ? { env: { ...process.env, ...env } } : {}) });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A failed expectation's context: the exit code and the start of both streams. */
export const show = (r: Run): string => `exit ${r.status}\n--- stdout\n${r.stdout.slice(0, 2000)}\n--- stderr\n${r.stderr.slice(0, 2000)}`;
