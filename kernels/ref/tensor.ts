// Integer tensor containers shared by the kernel references: row-major typed arrays with a shape.
// Int32Array holds everything that fits 32 bits; BigInt64Array holds the 64-bit results of section 12 (GELU
// outputs, LayerNorm outputs with a large q_beta, accumulators with the saturated 2^31 bias).

export type IntData = Int32Array | BigInt64Array;
/** Narrow integer operands of the MAC loops (int8 activations/weights, 0..256 probabilities). */
export type SmallIntArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array;

export interface IntTensor {
  readonly data: IntData;
  readonly shape: readonly number[];
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Element i as an exact integer: a Number when it is one, else a BigInt. */
export function readInt(data: IntData, i: number): number | bigint {
  const v = data[i];
  if (v === undefined) throw new RangeError(`index ${i} out of range (${data.length})`);
  if (typeof v === 'number') return v;
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** Copy into an Int32Array when every value fits int32, else a BigInt64Array (exact either way). */
export function packInts(values: readonly (number | bigint)[]): IntData {
  let fits = true;
  for (const v of values) {
    if (typeof v === 'bigint' || v < -2147483648 || v > 2147483647) {
      fits = false;
      break;
    }
  }
  if (fits) return Int32Array.from(values as readonly number[]);
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!);
  return out;
}

/** Largest magnitude bit length over a tensor (for width reports). */
export function maxAbsBits(data: IntData): number {
  let max = 0n;
  for (let i = 0; i < data.length; i++) {
    const v = BigInt(data[i]!);
    const a = v < 0n ? -v : v;
    if (a > max) max = a;
  }
  return max === 0n ? 0 : max.toString(2).length;
}
