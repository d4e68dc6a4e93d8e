// `intnpu asm <file.s>`: assemble; write the 64-bit words as a .bin (8 bytes little-endian each).
import type { CommandModule } from 'yargs';
import { assemble, programWarnings } from '../../isa/asm.js';
import { wordsToBytes } from '../../isa/encoding.js';
import { handler, printJson, readText } from '../common.js';
import { writeOutputFile } from '../files.js';
import { parseParams } from './run.js';

interface Args {
  file: string;
  output?: string | undefined;
  param?: string[] | undefined;
  json?: boolean | undefined;
}

export const asmCommand: CommandModule<object, Args> = {
  command: 'asm <file>',
  describe: 'Assemble a program; report every error as file:line:col with a caret',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'assembly source (.s)' })
      .option('output', { alias: 'o', type: 'string', describe: 'write the binary here (default: <file>.bin)' })
      .option('param', { type: 'string', array: true, describe: 'NAME=value for a .param of the program' })
      .option('json', { type: 'boolean', describe: 'print words, labels and buffers as JSON' }),
  handler: handler((a: Args) => {
    const prog = assemble(readText(a.file), { file: a.file, params: parseParams(a.param) });
    for (const w of programWarnings(prog)) process.stderr.write(`${w}\n`);
    const out = a.output ?? a.file.replace(/\.s$/, '') + '.bin';
    writeOutputFile(out, wordsToBytes(prog.words), 'binary');
    if (a.json) {
      const words: string[] = [];
      for (let i = 0; i < prog.words.length; i += 2) {
        words.push('0x' + prog.words[i + 1]!.toString(16).padStart(8, '0') + prog.words[i]!.toString(16).padStart(8, '0'));
      }
      printJson({ output: out, instructions: words.length, words, labels: Object.fromEntries(prog.labels), buffers: Object.fromEntries(prog.buffers) });
    } else {
      process.stdout.write(`${a.file}: ${prog.words.length / 2} instructions -> ${out}\n`);
    }
  }),
};
