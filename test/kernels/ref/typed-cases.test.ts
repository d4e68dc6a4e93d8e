// Tensor fields given as typed arrays (what the layer passes between kernels): the same results as the JSON
// form, and out-of-range elements rejected with the path and index by the one flat check.
import { describe, expect, it } from 'vitest';
import { KernelInputError } from '../../../kernels/ref/errors.js';
import { npuCaseRequantAct } from '../../../kernels/npu/requant-act.js';
import { parseQkCase } from '../../../kernels/npu/attention.js';
import { parseSoftmaxCase } from '../../../kernels/npu/softmax.js';
import { parseLayerNormCase } from '../../../kernels/npu/layernorm.js';

describe('typed-array tensor fields', () => {
  it('requant-act: Int32Array x_int and identity_int give what the number arrays give', () => {
    const x = [5, -70000, 123456, 7, 0, -1, 2 ** 31 - 1, -(2 ** 31)];
    const w = [1, -2, 3, -128, 127, 0, 5, 6];
    const base = { shape: [2, 4], scale_in: 0.01, bits: 8, x_min: -3, x_max: 4, identity_scale: 0.02 };
    const a = npuCaseRequantAct({ ...base, x_int: x, identity_int: w });
    const b = npuCaseRequantAct({ ...base, x_int: Int32Array.from(x), identity_int: Int32Array.from(w) });
    expect(b).toEqual(a);
  });

  it('an element outside the field\'s bounds names the path and the index', () => {
    const q = new Int32Array(8 * 4);
    q[13] = 200;
    expect(() => parseQkCase({ q_int: { shape: [8, 4], data: q }, k_int: { shape: [8, 4], data: new Int32Array(32) }, heads: 2 }))
      .toThrow(/200 is outside -128\.\.127\n {2}→ at q_int\.data\[13\]/);
    expect(() => parseQkCase({ q_int: { shape: [8, 4], data: q }, k_int: { shape: [8, 4], data: q }, heads: 2 })).toThrow(KernelInputError);
  });

  it('a typed mask is checked element by element (0 or 1), and structure errors still come from zod', () => {
    const x = new Int32Array(6);
    const mask = Uint8Array.from([1, 1, 2]);
    expect(() => parseSoftmaxCase({ x_int: x, shape: [2, 3], scale_in: 0.1, mask })).toThrow(/at mask\[2\]/);
    expect(parseSoftmaxCase({ x_int: x, shape: [2, 3], scale_in: 0.1, mask: Uint8Array.from([1, 1, 0]) }).rows).toBe(2);
    expect(() => parseSoftmaxCase({ x_int: x, shape: [2, 3] })).toThrow(/scale_in/);
    expect(() => parseLayerNormCase({ x_int: Int32Array.from([1, 2, 3, 4]), shape: [1, 4], gamma: [1, 1, 1, 1], beta: [0, 0, 0, 0], out_x_min: -1, out_x_max: 1 }))
      .not.toThrow();
  });
});
