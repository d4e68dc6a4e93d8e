#!/usr/bin/env node
// The `intnpu` command line: yargs with one module per command (ESM yargs 18 has no commandDir).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { accuracyCommand } from './commands/accuracy.js';
import { asmCommand } from './commands/asm.js';
import { debugCommand } from './commands/debug.js';
import { demoCommand } from './commands/demo.js';
import { disasmCommand } from './commands/disasm.js';
import { fidelityCommand } from './commands/fidelity.js';
import { kernelCommand } from './commands/kernel.js';
import { layerCommand } from './commands/layer.js';
import { machineCommand } from './commands/machine.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { sweepCommand } from './commands/sweep.js';

await yargs(hideBin(process.argv))
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
