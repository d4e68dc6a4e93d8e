// The reference engine of `intnpu kernel`: the simulator's own cases (linear, requant with m and e)
// are computed here with the kernels/ references.
import { linearRef } from '../../../kernels/linear.js';
import { requantDirect } from '../../../kernels/requant.js';
import { linearCase, requantCase } from '../cases.js';
import { UsageError } from '../common.js';

export const REF_KERNELS = ['linear', 'requant'] as const;

export interface RefOutput {
  y_int: (number | string)[];
  shape: number[];
  scale_out?: number | number[];
  consts?: Record<string, unknown>;
}

export function refKernel(name: string, input: unknown, where: string): RefOutput {
  if (name === 'linear') {
    const c = linearCase(input, where);
    return { y_int: Array.from(linearRef(c.x, c.w, c.bias, c.M, c.K, c.N)), shape: [c.M, c.N] };
  }
  if (name === 'requant') {
    const c = requantCase(input, where);
    return { y_int: Array.from(requantDirect(c.x, c.multiplier, c.shift, c.bits)), shape: c.shape };
  }
  throw new UsageError(`unknown kernel '${name}' (reference kernels: ${REF_KERNELS.join(', ')})`);
}
