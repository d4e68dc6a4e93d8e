// The project's own golden regressions: every built-in kernel on its small example and the small layer, on
// edge and server, with the sha256 of each output and the exact cycle count (test/golden/intnpu.golden.json).
// A change to any output or cycle count fails here, naming the entry; a deliberate change is recorded with
//   UPDATE_GOLDEN=1 npx vitest run test/golden
// and the new file is committed with the change that explains it.
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinSubjects, checkGolden, failureText, goldenBase, GOLDEN_FORMAT, GOLDEN_VERSION, loadGolden, runSubject } from '../../cli/golden.js';

const FILE = join(import.meta.dirname, 'intnpu.golden.json');
const MACHINES = ['edge', 'server'];

describe('golden regressions', () => {
  it('every built-in kernel and the small layer match the recorded outputs and cycles exactly', () => {
    if (process.env['UPDATE_GOLDEN'] === '1') {
      const base = dirname(FILE);
      const entries = builtinSubjects(MACHINES, 'small', 'intnpu').map((s) => runSubject(s, base));
      writeFileSync(FILE, JSON.stringify({ format: GOLDEN_FORMAT, version: GOLDEN_VERSION, entries }, null, 1) + '\n');
    }
    expect(existsSync(FILE), `${FILE} is missing: record it with UPDATE_GOLDEN=1`).toBe(true);
    const golden = loadGolden(FILE);
    // the file covers every built-in subject: a new kernel must be recorded too
    expect(golden.entries.length).toBe(builtinSubjects(MACHINES, 'small', 'intnpu').length);
    const results = checkGolden(golden, goldenBase(FILE), 0, () => 0);
    const failures = results.filter((r) => r.status !== 'ok').map((r) => `${r.name}: ${failureText(r)}`);
    expect(failures, 'outputs or cycles drifted; if on purpose, rerun with UPDATE_GOLDEN=1 and commit the file').toEqual([]);
  });
});
