// Bundles the command line (dist/cli/main.js, as tsc wrote it, with everything it imports: the project's modules,
// yargs, zod, seedrandom) into one module at the same path. Why: Node 20 loads ES modules file by file, and the
// ~200 files of an `intnpu layer` run cost ~130 ms of start-up on this machine against ~40 ms for one file (measured
// side by side; Node 20 has no module compile cache). The library (dist/index.js and the rest of dist/) stays as tsc
// wrote it; the bundle is only the `intnpu` executable.
//
// What the bundle must keep working, and how:
// - the worker threads (cli/reference-worker.js, cli/sweep/worker.js) stay separate modules of dist/cli, found by
//   URL from the module that starts them (cli/reference-thread.ts, cli/sweep/pool.ts handle both locations);
// - dynamic imports (commands loaded on use) become lazily initialised parts of the one file;
// - CommonJS dependencies (seedrandom) get a `require` from createRequire (the banner).
//   node scripts/bundle-cli.mjs
import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(ROOT, 'dist/cli/main.js');
await build({
  entryPoints: [main],
  outfile: main,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  banner: { js: "import { createRequire as __intnpuCreateRequire } from 'node:module'; const require = __intnpuCreateRequire(import.meta.url);" },
});
chmodSync(main, 0o755);
