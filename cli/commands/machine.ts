// `intnpu machine [preset|file]`: the resolved machine configuration, or its JSON Schema.
import type { CommandModule } from 'yargs';
import { loadMachine, machineJsonSchema, PRESETS } from '../../sim/config.js';
import { handler, printJson } from '../common.js';

interface Args {
  spec?: string | undefined;
  json?: boolean | undefined;
  schema?: boolean | undefined;
}

export const machineCommand: CommandModule<object, Args> = {
  command: 'machine [spec]',
  describe: `Print a resolved machine config (presets: ${Object.keys(PRESETS).join(', ')}, or a JSON file)`,
  builder: (y) =>
    y
      .positional('spec', { type: 'string', default: 'edge' })
      .option('json', { type: 'boolean' })
      .option('schema', { type: 'boolean', describe: 'print the JSON Schema of machine files instead' }),
  handler: handler((a: Args) => {
    if (a.schema) return printJson(machineJsonSchema());
    const cfg = loadMachine(a.spec ?? 'edge');
    if (a.json) return printJson(cfg);
    const flat = (o: unknown, prefix = ''): string[] =>
      typeof o === 'object' && o !== null
        ? Object.entries(o).flatMap(([k, v]) => flat(v, prefix ? `${prefix}.${k}` : k))
        : [`${prefix.padEnd(32)} ${String(o)}`];
    process.stdout.write(flat(cfg).join('\n') + '\n');
  }),
};
