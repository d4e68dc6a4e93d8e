// The disassembler: words back to assembly text that the assembler accepts (branch targets become
// labels L<pc>), so assemble(disassemble(words)) reproduces the words exactly.
import { decode } from './encoding.js';
import { ENUMS, isEnumKind, type InstrDef } from './table.js';

export function formatInstr(def: InstrDef, values: readonly number[], pc: number, labelOf?: (pc: number) => string): string {
  const ops = def.fields.map((fd, i) => {
    const v = values[i]!;
    if (fd.kind === 'sreg') return `r${v}`;
    if (fd.kind === 'vreg') return `v${v}`;
    if (isEnumKind(fd.kind)) return ENUMS[fd.kind][v] ?? `?${v}`;
    if (fd.kind === 'target') return labelOf ? labelOf(pc + v) : String(pc + v);
    return String(v);
  });
  return ops.length ? `${def.mnemonic} ${ops.join(', ')}` : def.mnemonic;
}

export interface DisasmLine {
  readonly pc: number;
  readonly text: string;
  readonly error?: string;
}

/** Disassemble every instruction; undecodable words become `.word` comments with the reason. */
export function disassemble(words: Uint32Array): { lines: DisasmLine[]; text: string } {
  const n = words.length >> 1;
  const decoded = [];
  const targets = new Set<number>();
  for (let pc = 0; pc < n; pc++) {
    try {
      const d = decode(words[pc * 2]!, words[pc * 2 + 1]!);
      // A branch that leaves the program cannot be written as a label the assembler accepts: it is
      // listed as a comment with the reason, like an undecodable word.
      const away = d.def.fields.findIndex((fd, i) => fd.kind === 'target' && (pc + d.values[i]! < 0 || pc + d.values[i]! > n));
      if (away >= 0) {
        const to = pc + d.values[away]!;
        decoded.push(new Error(`${formatInstr(d.def, d.values, pc)}: branch target ${to} is outside the program (0..${n})`));
        continue;
      }
      d.def.fields.forEach((fd, i) => {
        if (fd.kind === 'target') targets.add(pc + d.values[i]!);
      });
      decoded.push(d);
    } catch (e) {
      decoded.push(e instanceof Error ? e : new Error(String(e)));
    }
  }
  const label = (pc: number): string => `L${pc}`;
  const lines: DisasmLine[] = [];
  const out: string[] = [];
  decoded.forEach((d, pc) => {
    if (targets.has(pc)) out.push(`${label(pc)}:`);
    if (d instanceof Error) {
      const hex = `0x${words[pc * 2 + 1]!.toString(16).padStart(8, '0')}${words[pc * 2]!.toString(16).padStart(8, '0')}`;
      lines.push({ pc, text: `; .word ${hex}`, error: d.message });
      out.push(`    ; pc ${pc}: ${hex}: ${d.message}`);
    } else {
      const text = formatInstr(d.def, d.values, pc, label);
      lines.push({ pc, text });
      out.push(`    ${text}`);
    }
  });
  if (targets.has(n)) out.push(`${label(n)}:`);
  return { lines, text: out.join('\n') + '\n' };
}
