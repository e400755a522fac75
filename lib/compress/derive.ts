/**
 * The one place compression operators turn a new spec plus tensor recipes into a Model: native/ builds the module
 * and fills its tensors (copy, slice, explicit data or SVD factor); lib/ decides every recipe.
 */
import type { NativeModel, NativeTensorRecipe } from '../runtime/binding.js';
import { PetraError } from '../core/errors.js';
import { Model } from '../runtime/model.js';
import type { ModelSpec } from '../graph/types.js';
import { validateSpec } from '../graph/validate.js';

type FromNative = (spec: ModelSpec, native: NativeModel) => Model;

/** Wraps a native model with its spec. */
export function wrapNative(spec: ModelSpec, native: NativeModel): Model {
  const fromNative = (Model as unknown as { fromNative?: FromNative }).fromNative;
  if (typeof fromNative !== 'function') {
    native.dispose();
    throw new PetraError('Model.fromNative is missing: this build of lib/runtime/model.ts cannot wrap derived models');
  }
  return fromNative.call(Model, spec, native);
}

/**
 * A new model for `spec` on `model`'s device; each tensor comes from `recipes[name]`, else from the same-named
 * tensor of `model`. `model` is untouched.
 */
export function deriveModel(model: Model, spec: ModelSpec, recipes: Record<string, NativeTensorRecipe>): Model {
  const valid = validateSpec(spec);
  return wrapNative(valid, model.native.derive(valid, JSON.stringify(valid), recipes));
}
