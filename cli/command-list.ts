// The CLI's commands by name, each module imported only when an invocation needs it (cli/main.ts).
import type { CommandModule } from 'yargs';

/**
 * Every command, loaded on demand: `intnpu kernel ...` imports the kernel command's module only (and what it
 * needs), not the simulator, the layer runner, the report writer and the sweeper behind the others. The key
 * is the command's first word; the default command (no word) is `layer`, the main job; --help and unknown words
 * load them all.
 */
type Loader = () => Promise<CommandModule<object, never>>;
export const COMMANDS: Readonly<Record<string, Loader>> = {
  demo: async () => (await import('./commands/demo.js')).demoCommand as CommandModule<object, never>,
  asm: async () => (await import('./commands/asm.js')).asmCommand as CommandModule<object, never>,
  disasm: async () => (await import('./commands/disasm.js')).disasmCommand as CommandModule<object, never>,
  run: async () => (await import('./commands/run.js')).runCommand as CommandModule<object, never>,
  debug: async () => (await import('./commands/debug.js')).debugCommand as CommandModule<object, never>,
  kernel: async () => (await import('./commands/kernel.js')).kernelCommand as CommandModule<object, never>,
  machine: async () => (await import('./commands/machine.js')).machineCommand as CommandModule<object, never>,
  accuracy: async () => (await import('./commands/accuracy.js')).accuracyCommand as CommandModule<object, never>,
  fidelity: async () => (await import('./commands/fidelity.js')).fidelityCommand as CommandModule<object, never>,
  report: async () => (await import('./commands/report.js')).reportCommand as CommandModule<object, never>,
  layer: async () => (await import('./commands/layer.js')).layerCommand as CommandModule<object, never>,
  golden: async () => (await import('./commands/golden.js')).goldenCommand as CommandModule<object, never>,
  model: async () => (await import('./commands/model.js')).modelCommand as CommandModule<object, never>,
  sweep: async () => (await import('./commands/sweep.js')).sweepCommand as CommandModule<object, never>,
};

/** The command `intnpu` runs with no command word (its module declares `$0` among its names). */
export const DEFAULT_COMMAND = 'layer';

/** The commands this invocation needs: the one named by the first word, or all (help, version, a typo, the default). */
export function neededCommands(argv: readonly string[]): string[] {
  const first = argv.find((a) => !a.startsWith('-'));
  const wantsHelp = argv.some((a) => a === '--help' || a === '-h' || a === '--version');
  if (first !== undefined && Object.hasOwn(COMMANDS, first) && !wantsHelp) return [first];
  if (first === undefined && !wantsHelp) return [DEFAULT_COMMAND];
  return Object.keys(COMMANDS);
}

