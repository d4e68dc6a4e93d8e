// Generated references stay current: docs/ISA.md and docs/machine.schema.json equal what the table and
// the schema produce now (regenerate with `npm run docs`).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isaMarkdown } from '../../isa/docs.js';
import { ISA } from '../../isa/table.js';
import { machineJsonSchema } from '../../sim/config.js';

describe('generated docs', () => {
  it('docs/ISA.md is current (run `npm run docs` after changing isa/table.ts)', () => {
    expect(readFileSync('docs/ISA.md', 'utf8')).toBe(isaMarkdown());
  });
  it('docs/ISA.md documents every instruction', () => {
    const md = isaMarkdown();
    for (const d of ISA) expect(md).toContain(`### \`${d.mnemonic}`);
  });
  it('docs/machine.schema.json is current', () => {
    expect(JSON.parse(readFileSync('docs/machine.schema.json', 'utf8'))).toEqual(JSON.parse(JSON.stringify(machineJsonSchema())));
  });
});
