/**
 * Size limits, so a hostile or mistyped spec is a ConfigError here instead of an out-of-range cast, a multi-gigabyte
 * allocation or an endless build in native/: integer attributes and dimensions fit an int32 (1e20 would be undefined
 * behaviour in the native int64 cast), per-sample tensors and weights stay within 2^28 elements (1 GiB of float32;
 * the built-in models are below 2^20), and a GRU has at most 1024 layers (each layer is four native tensors).
 */
export const SPEC_LIMITS = {
  maxInt: 2 ** 31 - 1,
  maxSampleElements: 2 ** 28,
  maxWeights: 2 ** 28,
  maxGruLayers: 1024,
} as const;
