// What the NPU kernel-semantics modules (kernels/npu-*.ts) share: the result shapes the CLI reads, nested
// tensor fields in case files, case validation, and the fidelity comparison of layer 2 against layer 1.
export { flattenNested, nestedArray, parseCase, resolveShape, type Nested } from '../ref/case-parse.js';

/** Layer 2 against layer 1 on one setting: the share of identical outputs and the largest difference. */
export interface FidelityResult {
  kernel: string;
  setting: string;
  n: number;
  identical: number;
  identical_share: number;
  max_abs_diff: number;
  first_diff: { index: number; npu: number; ref: number } | null;
}

/** One engine's answer to a kernel case. */
export interface KernelCaseResult {
  y_int: number[];
  shape: number[];
  consts: Record<string, unknown>;
}

/** Compares layer 2 (npu) with layer 1 (ref) element by element. */
export function compareFidelity(kernel: string, setting: string, npu: ArrayLike<number>, ref: ArrayLike<number>): FidelityResult {
  if (npu.length !== ref.length) throw new Error(`internal: ${kernel} fidelity compares ${npu.length} with ${ref.length} values`);
  let identical = 0, maxAbs = 0;
  let first: FidelityResult['first_diff'] = null;
  for (let i = 0; i < ref.length; i++) {
    const a = npu[i]!, b = ref[i]!;
    if (a === b) identical++;
    else {
      const d = a > b ? a - b : b - a;
      if (d > maxAbs) maxAbs = d;
      first ??= { index: i, npu: a, ref: b };
    }
  }
  const n = ref.length;
  return { kernel, setting, n, identical, identical_share: n === 0 ? 1 : identical / n, max_abs_diff: maxAbs, first_diff: first };
}
