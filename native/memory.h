// LibTorch memory accounting: a counting wrapper around the CPU allocator (current / peak bytes, an optional cap
// that turns an allocation beyond it into an "out of memory" error, like a GPU running out), and the CUDA caching
// allocator's own statistics where there is a GPU.
//
// The CPU allocator is process-wide in LibTorch, so this state is per process, not per JS environment: the wrapper
// is installed once, by the first environment (main thread or worker_thread) that loads the addon, and lives until
// the process ends (tensors may be freed during LibTorch's own static teardown).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace petra {

struct CpuMemoryStats {
  bool tracking = false;     // the counting allocator is LibTorch's CPU allocator
  int64_t currentBytes = 0;  // bytes of live CPU allocations made through it
  int64_t peakBytes = 0;     // the most current has been since install or the last ResetCpuMemoryPeak()
  int64_t capBytes = 0;      // 0: no cap
  int64_t allocations = 0;   // allocations made through it since install
  int64_t liveAllocations = 0;
  int64_t refusedAllocations = 0;  // allocations refused by the cap
};

// Installs the counting allocator once per process (later calls do nothing). PETRA_CPU_MEMORY_CAP_MB sets the
// initial cap; PETRA_MEMORY_TRACKING=0 leaves LibTorch's allocator alone (stats then read zero, no cap).
void InstallCpuMemoryTracking();
CpuMemoryStats GetCpuMemoryStats();
// bytes > 0: allocations that would take current above it fail; 0: no cap.
void SetCpuMemoryCap(int64_t bytes);
void ResetCpuMemoryPeak();

// How the C heap serves LibTorch's large tensors (glibc; see ConfigureCHeap in memory.cc).
struct CHeapSettings {
  std::string mode;  // "tensor-friendly" (petra set it), "environment" (GLIBC_TUNABLES / MALLOC_* given), "default"
  int64_t mmapThreshold = 0;  // bytes; 0 where glibc's own dynamic threshold applies
  int64_t trimThreshold = 0;
};
// Once per process, at addon load: unless the environment configures malloc, or PETRA_MALLOC=default.
void ConfigureCHeap();
const CHeapSettings& CHeap();

void InitMemory(Napi::Env env, Napi::Object exports);

}  // namespace petra
