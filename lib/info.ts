import { binding, bindingPath, type NativeInfo } from './binding.js';
import { ConfigError } from './errors.js';

export interface PetraInfo extends NativeInfo { addonPath: string; node: string; openblasThreads: string | undefined }

/** What this process's LibTorch can do: version, CUDA devices, quantized engines, threads, BLAS. */
export function info(): PetraInfo {
  const native = binding().info();
  native.quantizedEngines = native.quantizedEngines.filter((e) => e !== 'NoQEngine');
  return { ...native, addonPath: bindingPath(), node: process.version, openblasThreads: process.env.OPENBLAS_NUM_THREADS };
}

/**
 * LibTorch intra-op threads for this process's compute thread, which runs every async operation (defaults to the available
 * cores; PETRA_THREADS overrides). Takes effect from the next operation; synchronous calls use one thread.
 */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ConfigError('must be a positive integer', 'threads');
  binding().setThreads(n);
}
