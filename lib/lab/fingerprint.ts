import { cpus, totalmem, platform, release } from 'node:os';
import { info } from '../runtime/info.js';

/** Where a measurement was taken: every lab result carries one, so numbers are never compared across hosts unknowingly. */
export interface HostFingerprint {
  cpu: string;
  cores: number;
  memoryBytes: number;
  os: string;
  threads: number;
  blas: string;
  /** How glibc served large tensors while it measured (absent in older records; see NativeInfo.cHeap). */
  cHeap?: string;
  libtorch: string;
  quantizedEngine: string;
  /** int8 on this CPU: weight bits of its exact scheme, what oneDNN runs, which clone of petra's kernels (absent in older records). */
  int8?: { weightBits: 7 | 8; oneDnnIsa: string; kernelIsa: string; cpuFlags: string[] };
  cuda: { device: string; driverVersion?: number; runtimeVersion?: number } | null;
  node: string;
}

export function hostFingerprint(device = 'cpu'): HostFingerprint {
  const i = info();
  const index = device.startsWith('cuda') ? Number(device.split(':')[1] ?? 0) : -1;
  const dev = index >= 0 ? i.cuda.devices.find((d) => d.index === index) : undefined;
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    os: `${platform()} ${release()}`,
    threads: i.threads.intraOp,
    blas: i.blas,
    cHeap: i.cHeap.mode,
    libtorch: i.libtorchVersion,
    quantizedEngine: i.quantizedEngine,
    int8: {
      weightBits: i.int8.weightBits,
      oneDnnIsa: i.int8.oneDnnIsa,
      kernelIsa: i.int8.kernelIsa,
      cpuFlags: i.int8.cpuFlags,
    },
    cuda: dev
      ? {
          device: dev.name,
          ...(i.cuda.driverVersion !== undefined ? { driverVersion: i.cuda.driverVersion } : {}),
          ...(i.cuda.runtimeVersion !== undefined ? { runtimeVersion: i.cuda.runtimeVersion } : {}),
        }
      : null,
    node: process.version,
  };
}
