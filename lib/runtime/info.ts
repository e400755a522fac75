import { binding, bindingPath, type KernelIsa, type NativeInfo, type NativeMemoryStats } from './binding.js';
import { ConfigError } from '../core/errors.js';

/** LibTorch's memory in this process (see NativeMemoryStats): CPU tensor bytes now and at peak, the cap, CUDA per device. */
export type MemoryStats = NativeMemoryStats;

export interface PetraInfo extends NativeInfo {
  addonPath: string;
  node: string;
  openblasThreads: string | undefined;
  memory: MemoryStats;
}

/** What this process's LibTorch can do: version, CUDA devices, quantized engines, threads, BLAS, memory in use. */
export function info(): PetraInfo {
  const native = binding().info();
  native.quantizedEngines = native.quantizedEngines.filter((e) => e !== 'NoQEngine');
  return {
    ...native,
    addonPath: bindingPath(),
    node: process.version,
    openblasThreads: process.env.OPENBLAS_NUM_THREADS,
    memory: memoryStats(),
  };
}

/**
 * LibTorch intra-op threads for this process's compute thread, which runs every async operation (defaults to the available
 * cores; PETRA_THREADS overrides). Takes effect from the next operation; synchronous calls use one thread.
 */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ConfigError('must be a positive integer', 'threads');
  binding().setThreads(n);
}

/**
 * LibTorch's memory as petra counts it: CPU tensor storage of the whole process (all threads and worker_threads) now,
 * at peak and its cap, plus the CUDA caching allocator's figures per device. Cheap enough to poll.
 */
export function memoryStats(): MemoryStats {
  return binding().memoryStats();
}

/**
 * Caps LibTorch's CPU tensor memory for the whole process (`bytes`; 0 or null: no cap), or on `device: 'cuda:N'` the
 * CUDA caching allocator's share of that GPU. An allocation beyond the cap fails with a DeviceError whose message says
 * "out of memory", so a search records the candidate that hit it as failed and goes on. The initial CPU cap comes from
 * PETRA_CPU_MEMORY_CAP_MB. The cap counts tensor storage, not the process's whole RSS.
 */
export function setMemoryCap(bytes: number | null, options: { device?: string } = {}): void {
  const value = bytes ?? 0;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new ConfigError(`must be a whole number of bytes ≥ 0 (0: no cap), got ${String(bytes)}`, 'memoryCap');
  binding().setMemoryCap(value, options.device ?? 'cpu');
}

/** Starts the peak figures (CPU, and CUDA where present) over from the current use. */
export function resetPeakMemory(): void {
  binding().resetPeakMemory();
}

/**
 * Hands the C heap's free pages back to the operating system (glibc's malloc_trim; false where there is none). Freed
 * tensor memory otherwise mostly stays in the process; a search does this after every candidate.
 */
export function trimMemory(): boolean {
  return binding().trimMemory();
}

/**
 * Which clone of petra's own vectorized int8 loops (the fused GRU recurrence, the uint8 max-pool) runs, process-wide:
 * 'avx512', 'avx2' or 'baseline' (x86-64 SSE2). Every clone computes the same results, bit for bit; the default is the
 * best this CPU runs, or PETRA_CPU_ISA's choice at load. A clone beyond this CPU is a ConfigError.
 */
export function setInt8KernelIsa(isa: KernelIsa): void {
  binding().setKernelIsa(isa);
}
