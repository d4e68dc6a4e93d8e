// vitest on a 2-core machine: threads pool, few large test files.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'threads',
    testTimeout: 60_000,
    // CLI runs in tests do not fill the user's synthetic-layer cache (cli/layer-cache.ts has its own test)
    env: { INTNPU_CACHE: '0' },
  },
});
