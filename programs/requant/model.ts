// Chunking and cycle model of the VPU requantization loop (programs/requant/build.ts).

import { xfer, type ModelMachine } from '../schedule.js';

/** Requantization on the VPU: the loop of programs/requant.s, `lanes` elements per iteration. */
export interface RequantModel {
  readonly cycles: number;
  readonly exact: boolean;
}

/** Elements per requant chunk: a multiple of the lane count that fits two buffers in acc and spad. */
export function requantChunk(n: number, bits: 8 | 16, mach: ModelMachine): number {
  const L = mach.vpu.lanes;
  const byAcc = Math.floor(mach.acc.sizeBytes / 4 / 2);
  const bySpad = Math.floor(mach.spad.sizeBytes / (bits / 8) / 2);
  const cap = Math.min(byAcc, bySpad, 4096);
  const chunk = Math.max(L, Math.floor(cap / L) * L);
  return Math.min(chunk, Math.ceil(n / L) * L);
}

/**
 * Requant cycles. One vector iteration is a dependent chain vld -> vmulr -> vst on the in-order VPU,
 * so the VPU starts a new iteration every loadLatency + mulLatency + 1 cycles, unless the front end
 * (4 instructions plus the taken-branch bubble) is slower. Chunks overlap their DMA with the VPU work of
 * the previous chunk; the model charges the larger of the two per chunk.
 */
export function requantModel(n: number, bits: 8 | 16, mach: ModelMachine): RequantModel {
  const L = mach.vpu.lanes, ld = mach.vpu.loadLatencyCycles, mul = mach.vpu.mulLatencyCycles;
  const lat = mach.dram.latencyCycles, pen = mach.frontend.takenBranchPenaltyCycles;
  const chunk = requantChunk(n, bits, mach);
  const chunks = Math.ceil(n / chunk);
  const period = Math.max(4 + pen, ld + mul + 1);
  const vpuCycles = (cn: number): number => {
    const full = Math.floor(cn / L), tail = cn - full * L;
    // Full vectors: the last iteration's branch falls through (no bubble); the tail is one more chain.
    return full * period + (tail > 0 ? ld + mul + 1 : 0);
  };
  const inC = (cn: number): number => xfer(cn * 4, mach);
  const outC = (cn: number): number => xfer(cn * (bits / 8), mach);
  const size = (c: number): number => (c < 0 || c >= chunks ? 0 : Math.min(chunk, n - c * chunk));
  let t = 2 + 7 + inC(size(0)) + lat; // multiplier/shift li, first load, its latency
  for (let c = 0; c < chunks; c++) {
    // While the VPU works on chunk c the channel loads chunk c+1 and stores chunk c-1.
    const dma = inC(size(c + 1)) + outC(size(c - 1));
    t += Math.max(vpuCycles(size(c)) + (c > 0 ? REQUANT_CHUNK_SWITCH_CYCLES : 0), dma);
  }
  const last = n - (chunks - 1) * chunk;
  t += outC(last) + lat;
  return { cycles: t, exact: chunks === 1 };
}

/**
 * Front-end cycles at a chunk boundary that the VPU queue cannot hide when the VPU is the bottleneck:
 * the loop exit, the store and next-load operand li's and the loop set-up (19 instructions) minus what
 * the queued vector instructions cover. Fitted once against the simulator on `server` (the only preset
 * where requant is VPU-bound) and checked there by the tests.
 */
export const REQUANT_CHUNK_SWITCH_CYCLES = 17;
