// Error type of the kernel references' API boundary: untrusted case/layer input that a zod schema rejected
// or that is inconsistent (shape mismatch). The CLI maps `exitCode` to the process exit status.

export class KernelInputError extends Error {
  readonly exitCode = 1;
  override readonly name = 'KernelInputError';
  constructor(message: string) {
    super(message);
  }
}
