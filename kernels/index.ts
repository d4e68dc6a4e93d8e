// Public API of the I-BERT integer reference (layer 1): exact helpers, constant folding, kernels, the reference
// encoder layer and embeddings, the JSON formats, synthetic checkpoints, float references and accuracy figures.

export { KernelInputError } from './ref/errors.js';
export type { IntData, IntTensor, SmallIntArray } from './ref/tensor.js';
export { sizeOf, readInt, packInts, maxAbsBits } from './ref/tensor.js';
export {
  TWO31, TWO32, TWO53, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX,
  pow2, floorDiv, floorShift, rneShift, rneDiv, rhazShift, clamp, satBits, sat8, sat16, sat32,
  floorShiftBig, rneShiftBig, floorDivBig, rneDivBig, mulShiftRne, mulShiftRneBig,
  bitLength, bitLengthBig, isqrt, isqrtBig, isqrtIterates, intToJson, toSafeNumber,
} from './ref/intmath.js';
export type { ActRange, Frexp31, SymQuant, QuantActConsts, GeluConsts, SoftmaxConsts, LayerNormConsts } from './ref/fold.js';
export {
  fl32, rneFloat, rhazFloat, pyfloordiv, frexp, frexp31, quantizeSymmetric, quantizeWithScale, biasScale, actScale,
  foldQuantAct, foldGelu, foldSoftmax, softmaxFixedPointRange, foldLayerNorm, attentionScoreScale, contextScale,
  directScaleOut, GELU_K, GELU_A, GELU_B, GELU_C_OVER_A, GELU_SHIFT, EXP_X0, EXP_COEF, EXP_B_OVER_A, EXP_C_OVER_A,
  EXP_N, SOFTMAX_MAX_BIT, SOFTMAX_OUTPUT_BIT,
} from './ref/fold.js';
export type { RequantInts, IdentityInts } from './ref/requant.js';
export { requantApply, requantDirect } from './ref/requant.js';
export { gemmABt, dotBound, linearRef, linearAcc } from './ref/linear.js';
export { embeddingLookup } from './ref/embedding.js';
export type { GeluInts } from './ref/gelu.js';
export { geluApply } from './ref/gelu.js';
export type { SoftmaxInts, SoftmaxResult } from './ref/softmax.js';
export { iexp, exp16, softmaxApply, MASKED_SCORE } from './ref/softmax.js';
export type { LayerNormInts } from './ref/layernorm.js';
export { layerNormApply } from './ref/layernorm.js';
export type {
  QuantLinearJson, QuantActJson, LayerNormJson, LayerInputJson, IbertLayerJson, IbertLayerJsonIn, QuantEmbeddingJson,
  IbertEmbeddingsJson, EmbeddingsInputJson,
} from './ref/layer-format.js';
export {
  LAYER_FORMAT, EMBEDDINGS_FORMAT, QuantLinearSchema, QuantActSchema, LayerNormSchema, LayerInputSchema, IbertLayerSchema,
  QuantEmbeddingSchema, IbertEmbeddingsSchema, EmbeddingsInputSchema, parseLayer, parseEmbeddings, layerJsonSchema,
  layerInputSequences, strictObject,
} from './ref/layer-format.js';
export type { LayerSequence } from './ref/layer-format.js';
export type { ModelConfig } from './ref/hf-config.js';
export { parseHfConfig, maxSequence } from './ref/hf-config.js';
export type { SafetensorsFile, SafetensorsEntry, SafetensorsDtype, SafetensorsTensorIn } from './ref/safetensors.js';
export { parseSafetensors, encodeSafetensors } from './ref/safetensors.js';
export type { HfModel } from './ref/hf-checkpoint.js';
export { hfStateDictToModel } from './ref/hf-checkpoint.js';
export { encodeNpy } from './ref/npy.js';
export type {
  CompiledLinear, CompiledLayer, LayerStep, LayerStepName, LayerRun, CompiledEmbeddings, EmbeddingStepName, EmbeddingsRun,
} from './ref/layer.js';
export {
  compileLayer, runLayer, runLayerJson, LAYER_STEP_NAMES, compileEmbeddings, runEmbeddings, runEmbeddingsJson,
  EMBEDDING_STEP_NAMES,
} from './ref/layer.js';
export type {
  SyntheticLayerOptions, SyntheticLayer, SyntheticEmbeddingsOptions, SyntheticEmbeddings, SyntheticModelOptions, SyntheticModel,
} from './ref/generate.js';
export { generateLayer, generateEmbeddings, generateModel, makeRng, normalSampler } from './ref/generate.js';
export type { FloatLinear, FloatLayerNorm, FloatLayerParams, FloatLayerTaps, FloatEmbeddingParams } from './ref/float-ref.js';
export {
  erf, gelu, geluSigmoid, hGelu, iGeluFloat, iexpFloatPaper, iexpFloatCode, softmaxRow, layerNormRows, linearFloat,
  floatLayer, floatEmbeddings, compareVectors,
} from './ref/float-ref.js';
export type { AccuracyRow, AccuracyReport, LayerAccuracy, ReferenceFigure, AccuracyOptions, LayerSize } from './ref/accuracy.js';
export { accuracyReport, formatAccuracyReport, sig2, LAYER_SIZES } from './ref/accuracy.js';
export type { RefCaseResult, RefCaseKernel } from './ref/cases.js';
export { runReferenceCase, REF_CASE_KERNELS } from './ref/cases.js';

// Layer 2, the NPU kernel semantics, one namespace per kernel (their helper names overlap).
export * as npuCommon from './npu/common.js';
export * as npuRequantAct from './npu/requant-act.js';
export * as npuGelu from './npu/gelu.js';
export * as npuSoftmax from './npu/softmax.js';
export * as npuLayerNorm from './npu/layernorm.js';
export * as npuAttention from './npu/attention.js';
