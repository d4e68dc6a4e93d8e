#!/usr/bin/env node
// The `intnpu` command line: yargs with one module per command (ESM yargs 18 has no commandDir).
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { accuracyCommand } from './commands/accuracy.js';
import { asmCommand } from './commands/asm.js';
import { debugCommand } from './commands/debug.js';
import { demoCommand } from './commands/demo.js';
import { disasmCommand } from './commands/disasm.js';
import { fidelityCommand } from './commands/fidelity.js';
import { goldenCommand } from './commands/golden.js';
import { kernelCommand } from './commands/kernel.js';
import { layerCommand } from './commands/layer.js';
import { modelCommand } from './commands/model.js';
import { machineCommand } from './commands/machine.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { sweepCommand } from './commands/sweep.js';

// `intnpu ... | head`: the reader went away; stop quietly instead of dying with an EPIPE stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

/** This package's version (dist/cli/main.js -> ../../package.json), not the project that installed it. */
function ownVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

await yargs(hideBin(process.argv))
  .version(ownVersion())
  .scriptName('intnpu')
  .command(demoCommand)
  .command(asmCommand)
  .command(disasmCommand)
  .command(runCommand)
  .command(debugCommand)
  .command(kernelCommand)
  .command(machineCommand)
  .command(accuracyCommand)
  .command(fidelityCommand)
  .command(reportCommand)
  .command(layerCommand)
  .command(goldenCommand)
  .command(modelCommand)
  .command(sweepCommand)
  .strict()
  .demandCommand(0)
  .help()
  .fail((msg, err) => {
    if (err) throw err;
    process.stderr.write(`intnpu: ${msg}\nRun 'intnpu --help' for usage.\n`);
    process.exit(1);
  })
  .parseAsync();
