// The plan and cycle model of the fused qk-softmax program (programs/qk-softmax/build.ts): the softmax model of
// programs/softmax/model.ts with each chunk's DRAM load replaced by the cost of producing the chunk on chip
// (two small int8 DMAs and the MXU's weight loads and streams). Like the softmax model it is not exact: the tests
// state its tolerance against the simulator.
import { memoPerMachine, TilingError, xfer } from '../schedule.js';
import { producerParts, softmaxModel, softmaxPlan, type ChunkSourceCost, type SoftmaxMachine, type SoftmaxModel, type SoftmaxPlan, type SoftmaxVariant } from '../softmax/model.js';

export type QkSoftmaxMachine = SoftmaxMachine;

export interface QkSoftmaxPlan {
  readonly dHead: number;
  /** query rows per chunk: a divisor of T, so a chunk never crosses heads */
  readonly chunkRows: number;
  readonly softmax: SoftmaxPlan;
}

export interface QkSoftmaxModel extends SoftmaxModel {
  readonly qkPlan: QkSoftmaxPlan;
}

interface Shape {
  readonly T: number;
  readonly hidden: number;
  readonly heads: number;
  readonly mask: 'none' | 'position';
  /** store the probabilities as uint8 min(p, 255) (P.V's input format) instead of int16 in [0, 256] */
  readonly probsU8?: boolean;
}

/** Front-end instructions, DMA cycles, latency to the chunk's scores and MXU busy cycles of producing chunk k. */
function chunkSource(s: Shape, Cr: number, mach: QkSoftmaxMachine): ChunkSourceCost {
  const { T, heads: H } = s;
  const dh = s.hidden / H;
  const R = mach.mxu.rows, C = mach.mxu.cols;
  const nTiles = Math.ceil(T / C), kTiles = Math.ceil(dh / R);
  const chunks = Math.ceil((H * T) / Cr);
  const firstOfHead = (k: number): boolean => (k * Cr) % T === 0;
  const loadBytes = (k: number): number => (k >= chunks ? 0 : (firstOfHead(k) ? T * dh : 0) + Cr * dh);
  const loadFe = (k: number): number => (k >= chunks ? 0 : (firstOfHead(k) ? 7 : 0) + 7);
  const pairs = nTiles * kTiles;
  // the MXU's busy cycles: each wload occupies the array for its k rows (nTiles * dh over the tiles), each stream Cr rows
  const mxu = pairs * Cr + nTiles * dh;
  // The MXU instructions of a part dispatch back to back: past the queue depth, the front end waits for the MXU to
  // start the earlier ones. A queue slot frees when its instruction starts; the wloads (a port of their own) hide
  // under the streams, so the last dispatch waits for the streams of all but the pairs the queue holds.
  const partsOf = (k: number): number => (k === 0 ? 1 : producerParts(Math.min(Cr, H * T - (k - 1) * Cr)));
  const queueWait = (k: number): number => {
    const parts = partsOf(k);
    let w = 0;
    for (let i = 0; i < parts; i++) {
      const [a, b] = partRange(pairs, i, parts);
      if (b > a) w += 2; // the two constant registers of a part
      const over = Math.max(0, 2 * (b - a) - mach.frontend.queueDepth);
      w += Math.max(0, Math.ceil(over / 2) - 1) * Cr;
    }
    return w;
  };
  return {
    frontend: (k) => (k === 0 ? loadFe(0) : 0) + loadFe(k + 1) + pairs * 8 + queueWait(k),
    dma: (k) => xfer(loadBytes(k + 1), mach),
    latency: (k) => (k === 0 ? xfer(loadBytes(0), mach) + mach.dram.latencyCycles : 0) + mxu + R + C,
    unit: () => mxu,
    dramBytes: 2 * T * s.hidden,
  };
}

/** Pairs (wload, stream) [a, b) of part `part` of `parts`: contiguous, as even as the count allows, the early parts fuller. */
export function partRange(pairs: number, part: number, parts: number): [number, number] {
  return [Math.ceil((pairs * part) / parts), Math.ceil((pairs * (part + 1)) / parts)];
}

function check(s: Shape): number {
  const { T, hidden, heads } = s;
  if (!Number.isInteger(hidden / heads)) throw new TilingError(`qk-softmax: hidden ${hidden} is not a multiple of heads ${heads}`);
  if (!(T >= 1)) throw new TilingError(`qk-softmax: seq ${T} < 1`);
  return hidden / heads;
}

/** The plan: the chunk size (a divisor of T that fits the memories) the model finds fastest. */
export function qkSoftmaxPlan(s: Shape, variant: SoftmaxVariant, mach: QkSoftmaxMachine): QkSoftmaxPlan {
  return qkSoftmaxModel(s, variant, mach).qkPlan;
}

export function qkSoftmaxModel(s: Shape, variant: SoftmaxVariant, mach: QkSoftmaxMachine): QkSoftmaxModel {
  return memoPerMachine(mach, `qkSoftmaxModel ${JSON.stringify([s, variant])}`, () => modelQkSoftmax(s, variant, mach));
}

function modelQkSoftmax(s: Shape, variant: SoftmaxVariant, mach: QkSoftmaxMachine): QkSoftmaxModel {
  const dh = check(s);
  const { T, heads: H } = s;
  const probsU8 = s.probsU8 ?? false;
  const base = softmaxPlan(H * T, T, mach, { mask: s.mask, variant, probsU8 });
  let best: QkSoftmaxModel | undefined;
  for (let Cr = 1; Cr <= T; Cr++) {
    if (T % Cr !== 0) continue;
    let p: SoftmaxPlan;
    try {
      p = softmaxPlan(H * T, T, mach, { mask: s.mask, variant, chunkRows: Cr, reciprocal: base.reciprocal, probsU8 });
    } catch (e) {
      if (e instanceof TilingError) continue;
      throw e;
    }
    if (p.chunkRows !== Cr) continue; // cut by the memories
    if (p.spadBytes + 3 * Cr * dh + 3 * T * dh > mach.spad.sizeBytes) continue;
    const opts = { mask: s.mask, variant, chunkRows: Cr, reciprocal: base.reciprocal, xResident: p.xResident, probsU8, recipLag: p.recipLag, splitExp: p.splitExp };
    const m = softmaxModel(H * T, T, mach, opts, chunkSource(s, Cr, mach));
    if (best === undefined || m.cycles < best.cycles) best = { ...m, qkPlan: { dHead: dh, chunkRows: Cr, softmax: m.plan } };
  }
  if (best === undefined) {
    throw new TilingError(`qk-softmax: no chunk of query rows dividing seq ${T} fits the accumulator (${mach.acc.sizeBytes} bytes) and scratchpad (${mach.spad.sizeBytes} bytes) with K of two heads`);
  }
  return best;
}
