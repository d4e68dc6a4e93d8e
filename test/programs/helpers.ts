// Shared by the kernel-program tests: element-by-element comparison that names the element and prints
// the seed with a one-line reproduction command on failure.
import { expect } from 'vitest';
import type { MachineInput } from '../../sim/config.js';

export function repro(file: string, seed: string, test: string): string {
  return `seed '${seed}'; reproduce: npx vitest run ${file} -t "${test}"`;
}

/** Every element compared; the first difference fails with its index, both values and the repro line. */
export function expectSameIn(file: string) {
  return (got: ArrayLike<number>, want: ArrayLike<number>, what: string, seed: string, test: string): void => {
    expect(got.length, repro(file, seed, test)).toBe(want.length);
    for (let i = 0; i < want.length; i++) {
      if (got[i] !== want[i]) expect.fail(`${what}: element ${i}: ${got[i]} != ${want[i]} (${repro(file, seed, test)})`);
    }
  };
}

/** Machines that stress a cycle model: slow multiplier, shallow queues, tiny acc, slow DRAM, few lanes, server. */
export const WHAT_IF_MACHINES: ReadonlyArray<MachineInput & { preset?: string }> = [
  { vpu: { mulLatencyCycles: 6 } },
  { frontend: { queueDepth: 2, takenBranchPenaltyCycles: 3 } },
  { acc: { sizeBytes: 4096 } },
  { dram: { bytesPerCycle: 2, latencyCycles: 400 } },
  { vpu: { lanes: 8 } },
  { preset: 'server', vpu: { mulLatencyCycles: 5, loadLatencyCycles: 4, aluLatencyCycles: 2 } },
];
