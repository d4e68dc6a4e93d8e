// docs/ASSEMBLY.md cannot go stale: every diagnostic code has a section whose example, assembled here,
// produces exactly that code and the output the doc shows; every other example in the guide assembles;
// and the opening program runs to the result its comment states.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../isa/asm.js';
import { AsmError, DIAGNOSTICS, formatDiagnostic } from '../../isa/diagnostics.js';
import { loadMachine } from '../../sim/config.js';
import { runProgram } from '../../sim/run-program.js';
import { expectBitExact } from '../../testing.js';

const DOC = readFileSync(resolve(import.meta.dirname, '../../docs/ASSEMBLY.md'), 'utf8');
const [guide, errors] = DOC.split(/^## Errors$/m) as [string, string | undefined];
const fences = (text: string, lang: string): string[] => [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
const edge = loadMachine('edge');
const capacity = { dram: edge.dram.sizeBytes, spad: edge.spad.sizeBytes, acc: edge.acc.sizeBytes / 4 };

describe('docs/ASSEMBLY.md', () => {
  it('has an Errors section with one example per diagnostic code', () => {
    expect(errors, 'no "## Errors" heading').toBeDefined();
    const documented = [...errors!.matchAll(/^### (E\d{3}): /gm)].map((m) => m[1]);
    expect(documented).toEqual(Object.keys(DIAGNOSTICS));
  });

  for (const code of Object.keys(DIAGNOSTICS)) {
    it(`${code}: the example produces ${code} and the output shown`, () => {
      const section = errors?.split(/^### /m).find((s) => s.startsWith(`${code}: `));
      expect(section, `no section for ${code}`).toBeDefined();
      expect(section!.startsWith(`${code}: ${DIAGNOSTICS[code as keyof typeof DIAGNOSTICS]}\n`)).toBe(true);
      const [src] = fences(section!, 'asm');
      const [shown] = fences(section!, 'text');
      expect(src, `${code}: no asm example`).toBeDefined();
      const params = Object.fromEntries([...section!.matchAll(/--param (\w+)=(-?\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
      let err: unknown;
      try {
        assemble(src!, { file: 'example.s', params, capacity });
      } catch (e) {
        err = e;
      }
      expect(err, `${code}: the example assembled without error`).toBeInstanceOf(AsmError);
      const diags = (err as AsmError).diagnostics;
      expect(diags.map((d) => d.code)).toEqual(diags.map(() => code));
      expect(diags.map(formatDiagnostic).join('\n')).toBe(shown!.trimEnd());
    });
  }

  it('every other example assembles, and the opening program doubles with saturation', () => {
    const examples = fences(guide, 'asm');
    expect(examples.length).toBeGreaterThanOrEqual(3);
    for (const src of examples) assemble(src, { file: 'guide.s', capacity });
    const run = runProgram(examples[0]!, { inputs: { a: Int8Array.from([1, -2, 3, 100, -100, 0, 63, -64]) } });
    const claimed = /# c: (\[[-\d,]+\])/.exec(guide)?.[1];
    expect(claimed).toBeDefined();
    expectBitExact(run.read('c'), JSON.parse(claimed!) as number[]);
  });
});
