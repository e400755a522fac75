/** `petra info`: what this host and LibTorch build offer, as lines or JSON. */
import type { Command } from 'commander';
import { info } from '../runtime/info.js';
import { PRINT_JSON } from './shared/flags.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('LibTorch version, CUDA devices, quantized engines, the int8 scheme for this CPU, threads and BLAS')
    .option(...PRINT_JSON)
    .action(runInfoCommand);
}

export function runInfoCommand(opts: { json?: boolean }): void {
  const i = info();
  if (opts.json) {
    console.log(JSON.stringify(i, null, 2));
    return;
  }
  console.log(`LibTorch        ${i.libtorchVersion}`);
  console.log(`addon           ${i.addonPath}`);
  console.log(
    `threads         ${i.threads.intraOp} intra-op, ${i.threads.interOp} inter-op, ${i.threads.hardware} hardware`,
  );
  console.log(`BLAS            ${i.blas} (OPENBLAS_NUM_THREADS=${i.openblasThreads ?? 'unset'})`);
  console.log(
    `C heap          ${i.cHeap.mode}${i.cHeap.mmapThreshold ? ` (mmap threshold ${i.cHeap.mmapThreshold >> 20} MiB, trim threshold ${i.cHeap.trimThreshold >> 20} MiB)` : ''}`,
  );
  console.log(`quantized       ${i.quantizedEngines.join(', ')} (active: ${i.quantizedEngine})`);
  console.log(`CPU             ${i.int8.cpu} (${i.int8.cpuFlags.join(', ') || 'no SIMD int8 features'})`);
  console.log(`int8 weights    ${i.int8.weightBits}-bit: ${i.int8.reason}`);
  console.log(`oneDNN          ${i.int8.oneDnnIsa || 'ISA not reported'}; 8-bit probe: ${i.int8.oneDnnProbe}`);
  console.log(
    `int8 kernels    ${i.int8.kernelIsa} (${i.int8.kernelIsaReason}; this CPU runs ${i.int8.kernelIsas.join(', ')})`,
  );
  console.log(
    `CUDA            ${i.cuda.available ? `available, ${i.cuda.devices.length} device(s)` : i.cuda.compiled ? 'compiled in, no device' : 'not in this LibTorch build'}`,
  );
  for (const d of i.cuda.devices)
    console.log(
      `  cuda:${d.index}        ${d.name}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, sm ${d.computeCapability}`,
    );
}
