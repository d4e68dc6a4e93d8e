// The assembly listing of a built program: the one function through which `intnpu kernel --emit-asm` (and
// anything else that shows a built-in program) gets the text the simulator ran. Text builders give their
// assembly source; word builders (isa/emit.ts: linear, linear-requant) render sourceLines on first read from
// their words, comments and .buffer declarations, so the listing assembles back to the same words either way.
import type { Program } from '../isa/asm.js';

/** Assembly text that `assemble()` turns back into exactly `program.words` with the same buffers. */
export function programListing(program: Program): string {
  const text = program.sourceLines.join('\n');
  return text.endsWith('\n') ? text : text + '\n';
}
