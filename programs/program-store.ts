// Built programs through the memo store (programs/schedule.ts): a BERT-base layer's programs hold ~300,000 unrolled
// instructions, and emitting them is a quarter of a layer run's host time; a second run reads them back instead.
// What is stored: the words, each instruction's listing line, the symbols (labels, constants, buffers) and the
// allocation, exactly. What is not: the listing text (megabytes) and the builder's decoded side table; the listing is
// rebuilt by the builder when someone reads it (a fault report, a trace, --emit-asm), and checked to give the same
// words; the simulator decodes stored words itself. In memory, eight programs per machine, as cachedBuild keeps.
import type { BufferSymbol, MemorySpace, Program } from '../isa/asm.js';
import { perMachineCache, type MemoCodec } from './schedule.js';

interface StoredProgram {
  readonly file: string;
  /** base64 of the words' bytes (little-endian) */
  readonly words: string;
  /** base64 of the lines' bytes */
  readonly lines: string;
  readonly labels: [string, number][];
  readonly consts: [string, number][];
  readonly buffers: BufferSymbol[];
  readonly allocated: Record<MemorySpace, number>;
}

const bytesOf = (a: Uint32Array | Int32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** A typed array of `T` from base64 (copied to an aligned buffer of its own). */
function fromBase64<T>(text: string, make: (b: ArrayBuffer) => T): T {
  const b = Buffer.from(text, 'base64');
  const copy = new Uint8Array(b.length);
  copy.set(b);
  return make(copy.buffer);
}

export const PROGRAM_CODEC: MemoCodec = {
  encode(v) {
    const p = v as Program;
    const stored: StoredProgram = {
      file: p.file, words: bytesOf(p.words), lines: bytesOf(p.lines), labels: [...p.labels], consts: [...p.consts],
      buffers: [...p.buffers.values()].map((b) => ({ name: b.name, space: b.space, address: b.address, size: b.size, line: b.line })),
      allocated: { ...p.allocated },
    };
    return JSON.stringify(stored);
  },
  decode(text, recompute) {
    const s = JSON.parse(text) as StoredProgram;
    const words = fromBase64(s.words, (b) => new Uint32Array(b));
    let listing: readonly string[] | undefined;
    const program = {
      file: s.file, words, lines: fromBase64(s.lines, (b) => new Int32Array(b)),
      labels: new Map(s.labels), consts: new Map(s.consts), buffers: new Map(s.buffers.map((b) => [b.name, b])), allocated: s.allocated,
    };
    // the listing: from the builder, on first read; the same code builds the same words (else the store is corrupt)
    Object.defineProperty(program, 'sourceLines', {
      enumerable: true,
      get: (): readonly string[] => {
        if (listing === undefined) {
          const built = recompute() as Program;
          if (built.words.length !== words.length || built.words.some((w, i) => w !== words[i])) {
            throw new Error(`internal: the stored program ${s.file} differs from what its builder gives now (clear the cache)`);
          }
          listing = built.sourceLines;
        }
        return listing;
      },
    });
    return program as unknown as Program;
  },
};

/**
 * A built program, kept per machine in memory and, through the memo store, between runs. `key` names every input of
 * `build` other than the machine.
 */
export const storedProgram: (cfg: object, key: string, build: () => Program) => Program = perMachineCache(8, PROGRAM_CODEC);
