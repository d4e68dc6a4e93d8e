// A seeded slice of the fuzz harness (`npm run fuzz` runs >= 10^5 inputs per target): a few hundred
// inputs per target, each classified by the exit code the CLI would give. No input may end in an internal
// error (exit 3), a silent mismatch (exit 2: a disassembly round trip that changes the words) or take
// longer than the per-input limit. A failure names the input index; rerun it alone with
// runTarget(target, 1, seed, limit, index).
import { describe, expect, it } from 'vitest';
import { runTarget, type TargetName } from '../../bench/fuzz/targets.js';

const SLICE: Record<TargetName, number> = { asm: 200, words: 200, config: 200, cases: 60 };

describe('fuzz slice', () => {
  for (const [target, n] of Object.entries(SLICE) as [TargetName, number][]) {
    it(`${target}: ${n} seeded inputs, no internal error, mismatch or hang`, () => {
      const r = runTarget(target, n, 'intnpu-fuzz-test', 2000);
      expect(r.examples, JSON.stringify(r.examples, null, 2)).toEqual([]);
      expect(r.exit_codes['3']).toBe(0);
      expect(r.exit_codes['2']).toBe(0);
      expect(r.hangs).toBe(0);
      // The generators reach both sides: inputs that run and inputs that are refused.
      expect(r.exit_codes['0']).toBeGreaterThan(n / 20);
      expect(r.exit_codes['1']).toBeGreaterThan(n / 20);
    });
  }
});
