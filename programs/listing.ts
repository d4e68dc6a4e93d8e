// The assembly listing of a built program: the one function through which `intnpu kernel --emit-asm` (and
// anything else that shows a built-in program) gets the text the simulator ran. Builders emit assembly
// source today; should they emit instruction words instead, this function is where the listing is
// rebuilt (disassembly plus the .buffer declarations), and its callers do not change.
import type { Program } from '../isa/asm.js';

/** Assembly text that `assemble()` turns back into exactly `program.words` with the same buffers. */
export function programListing(program: Program): string {
  const text = program.sourceLines.join('\n');
  return text.endsWith('\n') ? text : text + '\n';
}
