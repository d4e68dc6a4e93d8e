// `intnpu disasm <file.bin>`: words back to assembly that `intnpu asm` accepts.
import type { CommandModule } from 'yargs';
import { disassemble } from '../../isa/disasm.js';
import { bytesToWords } from '../../isa/encoding.js';
import { handler, printJson, UsageError } from '../common.js';
import { readInputFile } from '../files.js';

interface Args {
  file: string;
  json?: boolean | undefined;
}

export const disasmCommand: CommandModule<object, Args> = {
  command: 'disasm <file>',
  describe: 'Disassemble a .bin of 64-bit instruction words',
  builder: (y) =>
    y.positional('file', { type: 'string', demandOption: true }).option('json', { type: 'boolean', describe: 'one object per instruction' }),
  handler: handler((a: Args) => {
    const bytes = readInputFile(a.file);
    let words: Uint32Array;
    try {
      words = bytesToWords(bytes);
    } catch (e) {
      throw new UsageError(`${a.file}: ${(e as Error).message}`);
    }
    const d = disassemble(words);
    if (a.json) printJson(d.lines);
    else process.stdout.write(d.text);
    const bad = d.lines.filter((l) => l.error);
    if (bad.length > 0) {
      process.stderr.write(`${a.file}: ${bad.length} word(s) not disassembled (undecodable, or a branch leaving the program), first at pc ${bad[0]!.pc}: ${bad[0]!.error}\n`);
      return 1;
    }
    return 0;
  }),
};
