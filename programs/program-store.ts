// Built programs through the memo store (programs/schedule.ts): a BERT-base layer's programs hold ~300,000 unrolled
// instructions, and emitting them is a quarter of a layer run's host time; a second run reads them back instead.
// What is stored: the words, each instruction's listing line, the symbols (labels, constants, buffers) and the
// allocation, exactly. What is not: the listing text (megabytes) and the builder's decoded side table; the listing is
// rebuilt by the builder when someone reads it (a fault report, a trace, --emit-asm), and checked to give the same
// words; the simulator decodes stored words itself. In memory, eight programs per machine, as cachedBuild keeps.
import type { BufferSymbol, MemorySpace, Program } from '../isa/asm.js';
import { perMachineCache, type MemoCodec } from './schedule.js';

/** What is stored beside the words and lines (JSON, in front of them). */
interface StoredMeta {
  readonly file: string;
  /** instructions */
  readonly n: number;
  readonly labels: [string, number][];
  readonly consts: [string, number][];
  readonly buffers: BufferSymbol[];
  readonly allocated: Record<MemorySpace, number>;
}

const UTF8_OUT = new TextEncoder(), UTF8_IN = new TextDecoder();

/**
 * Bytes: [meta length, u32 LE][meta JSON, padded with spaces to a multiple of 4][words: 8 bytes per instruction]
 * [lines: 4 bytes per instruction], the arrays as the machine holds them (little-endian, as every JavaScript engine
 * on the platforms Node supports).
 */
export const PROGRAM_CODEC: MemoCodec = {
  encode(v) {
    const p = v as Program;
    const n = p.words.length >> 1;
    const meta: StoredMeta = {
      file: p.file, n, labels: [...p.labels], consts: [...p.consts],
      buffers: [...p.buffers.values()].map((b) => ({ name: b.name, space: b.space, address: b.address, size: b.size, line: b.line })),
      allocated: { ...p.allocated },
    };
    let json = UTF8_OUT.encode(JSON.stringify(meta));
    const padded = (json.length + 3) & ~3;
    if (padded !== json.length) json = UTF8_OUT.encode(JSON.stringify(meta) + ' '.repeat(padded - json.length));
    const out = new Uint8Array(4 + padded + 12 * n);
    new DataView(out.buffer).setUint32(0, padded, true);
    out.set(json, 4);
    out.set(new Uint8Array(p.words.buffer, p.words.byteOffset, 8 * n), 4 + padded);
    out.set(new Uint8Array(p.lines.buffer, p.lines.byteOffset, 4 * n), 4 + padded + 8 * n);
    return out;
  },
  decode(bytes, recompute) {
    const metaLen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
    const s = JSON.parse(UTF8_IN.decode(bytes.subarray(4, 4 + metaLen))) as StoredMeta;
    const at = 4 + metaLen;
    if (bytes.length !== at + 12 * s.n) throw new Error(`internal: the stored program ${s.file} has ${bytes.length} bytes, expected ${at + 12 * s.n}`);
    // copies, aligned: the stored arrays as the machine reads them
    const words = new Uint32Array(2 * s.n), lines = new Int32Array(s.n);
    new Uint8Array(words.buffer).set(bytes.subarray(at, at + 8 * s.n));
    new Uint8Array(lines.buffer).set(bytes.subarray(at + 8 * s.n, at + 12 * s.n));
    let listing: readonly string[] | undefined;
    const program = {
      file: s.file, words, lines, labels: new Map(s.labels), consts: new Map(s.consts), buffers: new Map(s.buffers.map((b) => [b.name, b])), allocated: s.allocated,
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
