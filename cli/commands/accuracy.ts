// `intnpu accuracy [--json] [--layer base|small|none]`: the I-BERT kernels' approximation errors beside the paper's
// and the spec's figures (Table 1, i-exp gap, softmax, LayerNorm) and a synthetic layer against its float64 twin.
// Thin handler: kernels/ref/accuracy.ts computes, this prints.
import type { CommandModule } from 'yargs';
import { accuracyReport, formatAccuracyReport, type LayerSize } from '../../kernels/ref/accuracy.js';
import { handler, printJson } from '../common.js';

interface Args {
  json?: boolean | undefined;
  layer: LayerSize;
}

export const accuracyCommand: CommandModule<object, Args> = {
  command: 'accuracy',
  describe: 'Accuracy of the integer I-BERT kernels vs float (paper Table 1, i-exp, softmax, LayerNorm, a whole layer)',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', describe: 'one JSON object instead of the table' })
      .option('layer', {
        choices: ['base', 'small', 'none'] as const,
        default: 'base' as const,
        describe: 'synthetic layer compared end to end with float64: BERT-base (seq 128, ~3 s), small, or none',
      }),
  handler: handler((a: Args) => {
    const report = accuracyReport({ layer: a.layer });
    if (a.json) printJson(report);
    else process.stdout.write(formatAccuracyReport(report));
  }),
};
