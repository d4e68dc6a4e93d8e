// `intnpu kernel <name> --input case.json --engine ref|sim`: one kernel on one case, by the TypeScript
// reference or by its program on the simulator (with the closed-form model's cycles beside the sim's).
import { writeFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { linearRef } from '../../../kernels/linear.js';
import { requantDirect } from '../../../kernels/requant.js';
import { runLinearSim, runRequantSim, type KernelRun } from '../../../programs/index.js';
import { loadMachine, type MachineConfig } from '../../config.js';
import { formatHotspots, formatStats, hotspots } from '../../report.js';
import { loadProgram } from '../../run.js';
import { chromeTrace } from '../../trace.js';
import { linearCase, requantCase } from '../cases.js';
import { handler, printJson, readJson, UsageError } from '../common.js';
import { refKernel, REF_KERNELS } from './kernel-ref.js';

const SIM_KERNELS = ['linear', 'requant'] as const;

interface Args {
  name: string;
  input: string;
  engine: string;
  machine: string;
  json?: boolean | undefined;
  trace?: string | undefined;
}

function simKernel(name: string, input: unknown, where: string, cfg: MachineConfig, trace: boolean): KernelRun<{ cycles: number; exact: boolean }> {
  if (name === 'linear') {
    const c = linearCase(input, where);
    return runLinearSim(c.x, c.w, c.bias, c.M, c.K, c.N, cfg, { trace });
  }
  if (name === 'requant') {
    const c = requantCase(input, where);
    return runRequantSim(c.x, c.multiplier, c.shift, c.bits, cfg, { trace });
  }
  throw new UsageError(`kernel '${name}' has no simulator program yet (simulator kernels: ${SIM_KERNELS.join(', ')})`);
}

export const kernelCommand: CommandModule<object, Args> = {
  command: 'kernel <name>',
  describe: 'Run one kernel on a case file with the reference (ref) or on the simulator (sim)',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: `kernel (${[...new Set([...REF_KERNELS, ...SIM_KERNELS])].join(', ')})` })
      .option('input', { alias: 'i', type: 'string', demandOption: true, describe: 'case JSON (docs/formats.md)' })
      .option('engine', { alias: 'e', type: 'string', choices: ['ref', 'sim'], default: 'sim' })
      .option('machine', { alias: 'm', type: 'string', default: 'edge', describe: 'preset or JSON file' })
      .option('json', { type: 'boolean' })
      .option('trace', { type: 'string', describe: 'Chrome trace-event JSON output (sim engine)' }),
  handler: handler((a: Args) => {
    const input = readJson(a.input);
    if (a.engine === 'ref') {
      const r = refKernel(a.name, input, a.input);
      if (a.json) printJson({ kernel: a.name, engine: 'ref', ...r });
      else process.stdout.write(`${a.name} (reference): ${r.y_int.length} outputs\ny_int ${JSON.stringify(r.y_int.slice(0, 64))}${r.y_int.length > 64 ? ' ...' : ''}\n`);
      return;
    }
    const cfg = loadMachine(a.machine);
    const run = simKernel(a.name, input, a.input, cfg, a.trace !== undefined);
    const loaded = loadProgram(run.program.words, run.program);
    if (a.trace && run.sim.trace) writeFileSync(a.trace, JSON.stringify(chromeTrace(run.sim.trace, loaded, cfg)));
    const s = run.sim.stats;
    if (a.json) {
      printJson({
        kernel: a.name,
        engine: 'sim',
        y_int: Array.from(run.y),
        cycles: s.cycles,
        model_cycles: run.model.cycles,
        model_exact: run.model.exact,
        stats: { ...s, hotspots: hotspots(run.sim, loaded) },
        machine: cfg,
      });
    } else {
      process.stdout.write(`${a.name} on the simulator\n${formatStats(run.sim, cfg, run.model.cycles)}\n`);
      const h = formatHotspots(hotspots(run.sim, loaded, 5));
      if (h) process.stdout.write(h + '\n');
      process.stdout.write(`y_int ${JSON.stringify(Array.from(run.y.subarray(0, 32)))}${run.y.length > 32 ? ' ...' : ''}\n`);
    }
  }),
};

export { linearRef, requantDirect };
