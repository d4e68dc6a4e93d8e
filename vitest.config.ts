// vitest on a 2-core machine: threads pool, few large test files, one worker per core. Left to its default,
// vitest 4 ran one worker here (the suite took ~97 s; with two, ~66 s).
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'threads',
    maxWorkers: Math.max(1, availableParallelism()),
    testTimeout: 60_000,
    // the synthetic-layer cache stays off in tests (and in the CLIs they spawn): nothing written to the user's cache
    env: { INTNPU_CACHE: '0' },
  },
});
