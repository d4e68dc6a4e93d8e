// Generates docs/ISA.md from the table: the reference a kernel author reads. A test fails when the
// committed file differs from what this produces (regenerate with `npm run docs`).
import { ENUMS, FIELD_KINDS, ISA, TIMING_CLASSES, UNITS } from './table.js';

export function isaMarkdown(): string {
  const out: string[] = [];
  out.push('# intnpu instruction set');
  out.push('');
  out.push('Generated from `isa/table.ts` by `npm run docs`; do not edit by hand (a test checks it is current).');
  out.push('');
  out.push('Every instruction is one 64-bit word: opcode in bits 0..7, then the fields in the order listed,');
  out.push('packed upward (little-endian bit order). Unused high bits must be zero. Registers: r0..r31 (int32,');
  out.push('r0 is zero), v0..v31 (one int32 per lane). Integers only: no floating point anywhere.');
  out.push('');
  out.push('## Field kinds');
  out.push('');
  out.push('| kind | bits | meaning |');
  out.push('| --- | --- | --- |');
  for (const [k, v] of Object.entries(FIELD_KINDS)) out.push(`| ${k} | ${v.bits} | ${v.doc} |`);
  out.push('');
  out.push('Enum values (encoded as their index): ' + Object.entries(ENUMS).map(([k, v]) => `${k} = ${v.join(' / ')}`).join('; ') + '.');
  out.push('');
  out.push('## Timing classes');
  out.push('');
  out.push('| class | cost |');
  out.push('| --- | --- |');
  for (const [k, v] of Object.entries(TIMING_CLASSES)) out.push(`| ${k} | ${v} |`);
  out.push('');
  for (const unit of UNITS) {
    const rows = ISA.filter((d) => d.unit === unit);
    if (rows.length === 0) continue;
    out.push(`## Unit: ${unit}`);
    out.push('');
    for (const d of rows) {
      const ops = d.fields.map((f) => `${f.name}:${f.kind}`).join(', ');
      out.push(`### \`${d.mnemonic}${ops ? ' ' + ops : ''}\``);
      out.push('');
      out.push(`${d.doc}`);
      out.push('');
      out.push(`- opcode: 0x${d.opcode.toString(16).padStart(2, '0')}; timing class: ${d.timing}`);
      out.push(`- semantics: ${d.semantics}`);
      out.push('');
    }
  }
  return out.join('\n');
}
