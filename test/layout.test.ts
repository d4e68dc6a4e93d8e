// The layout is the design: each top-level folder may import only the folders below it (README "Layout").
// This reads every source file's import specifiers and fails naming the file and the import that breaks a rule.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

/** Which project folders each folder may import from (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  'kernels/ref': [],
  'kernels/npu': ['kernels/ref'],
  isa: [],
  sim: ['isa'],
  programs: ['sim', 'isa', 'kernels/npu', 'kernels/ref'],
  // intnpu/testing stands alone: a user's assertions must not depend on the code they check.
  testing: [],
  examples: ['cli', 'programs', 'sim', 'isa', 'kernels/npu', 'kernels/ref', 'kernels', 'testing', 'index'],
};
const AREAS = ['kernels/ref', 'kernels/npu', 'kernels', 'isa', 'sim', 'programs', 'cli', 'bench', 'examples', 'testing'];

function areaOf(file: string): string {
  const rel = relative(ROOT, file).replaceAll('\\', '/');
  // Top-level entries: the package entry and the testing subpath (imports end in .js, files in .ts).
  const top = rel.replace(/\.(ts|js)$/, '');
  if (top === 'index' || top === 'testing') return top;
  return AREAS.find((a) => rel.startsWith(a + '/')) ?? rel;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of src.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) specs.push(m[1]!);
  return specs;
}

describe('layout', () => {
  it('kernels/ holds only its index and the two layers', () => {
    const loose = readdirSync(join(ROOT, 'kernels')).filter((n) => !['index.ts', 'ref', 'npu'].includes(n));
    expect(loose).toEqual([]);
  });

  it('every import points down the layers', () => {
    const violations: string[] = [];
    for (const area of Object.keys(ALLOWED)) {
      const dir = join(ROOT, area);
      let files: string[];
      try { files = tsFiles(dir); } catch { files = existsSync(dir + '.ts') ? [dir + '.ts'] : []; }
      for (const file of files) {
        for (const spec of imports(file)) {
          const target = areaOf(resolve(dirname(file), spec));
          if (target === area) continue;
          if (!ALLOWED[area]!.includes(target)) violations.push(`${relative(ROOT, file)} imports ${spec} (${area} -> ${target})`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('the rule itself catches an upward import', () => {
    // A guard against a checker that passes everything: resolve a known upward path by hand.
    const fake = join(ROOT, 'sim', 'x.ts');
    expect(areaOf(resolve(dirname(fake), '../programs/index.js'))).toBe('programs');
    expect(ALLOWED['sim']!.includes('programs')).toBe(false);
  });
});
