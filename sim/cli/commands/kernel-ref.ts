// The reference engine of `intnpu kernel`: kernels/cases.ts validates the case and runs the exact
// I-BERT integer kernel (requant accepts both the folded form with scales and the direct m/e form).
import { REF_CASE_KERNELS, runReferenceCase, type RefCaseResult } from '../../../kernels/cases.js';

export const REF_KERNELS = REF_CASE_KERNELS;
export type RefOutput = RefCaseResult;

export function refKernel(name: string, input: unknown, where: string): RefOutput {
  try {
    return runReferenceCase(name, input);
  } catch (e) {
    if (e instanceof Error && 'exitCode' in e) e.message = `${where}: ${e.message}`;
    throw e;
  }
}
