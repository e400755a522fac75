// The counting CPU allocator (see memory.h) and memoryStats / setMemoryCap / resetPeakMemory.
#include "memory.h"

#include <c10/core/CPUAllocator.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "common.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#ifdef PETRA_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

namespace petra {
namespace {

// Sizes of the live allocations, keyed by data pointer, so that the deleter — a plain function pointer that gets
// only the pointer — can subtract the right size. Sharded to keep the lock uncontended.
struct Shard {
  std::mutex mutex;
  std::unordered_map<void*, int64_t> sizes;
};

struct State {
  std::atomic<int64_t> current{0}, peak{0}, cap{0}, allocations{0}, live{0}, refused{0};
  std::array<Shard, 32> shards;
  c10::Allocator* original = nullptr;
  c10::DeleterFnPtr originalRawDeleter = nullptr;
  bool tracking = false;
};

// Never freed: tensors can outlive every static object of this library (LibTorch frees some at its own teardown).
State& S() {
  static State* state = new State();
  return *state;
}

Shard& ShardOf(void* p) {
  const auto key = reinterpret_cast<uintptr_t>(p) >> 6;  // allocations are 64-byte aligned
  return S().shards[(key ^ (key >> 7)) % S().shards.size()];
}

void Uncount(int64_t bytes) {
  S().current.fetch_sub(bytes, std::memory_order_relaxed);
  S().live.fetch_sub(1, std::memory_order_relaxed);
}

void Remember(void* p, int64_t bytes) {
  Shard& shard = ShardOf(p);
  std::lock_guard<std::mutex> lock(shard.mutex);
  auto [it, inserted] = shard.sizes.emplace(p, bytes);
  if (!inserted) {
    // The address was freed behind our back (through the original deleter) and reused: drop the stale entry.
    Uncount(it->second);
    it->second = bytes;
  }
}

// The size recorded for p, removed; 0 when p is not ours (e.g. raw memory allocated before the wrapper existed).
int64_t Forget(void* p) {
  Shard& shard = ShardOf(p);
  std::lock_guard<std::mutex> lock(shard.mutex);
  auto it = shard.sizes.find(p);
  if (it == shard.sizes.end()) return 0;
  const int64_t bytes = it->second;
  shard.sizes.erase(it);
  return bytes;
}

// Deleter of the allocations whose context is the data pointer (the default CPU allocator's kind): the same
// contract as the original allocator's raw deleter, so raw_allocate / raw_deallocate keep working.
void RawDelete(void* p) {
  if (p == nullptr) return;
  const int64_t bytes = Forget(p);
  if (bytes > 0) Uncount(bytes);
  S().originalRawDeleter(p);
}

// Any other kind of DataPtr: its own context and deleter, kept whole, plus the size.
struct Wrapped {
  std::unique_ptr<void, c10::DeleterFnPtr> inner{nullptr, &c10::detail::deleteNothing};
  int64_t bytes = 0;
};
void WrappedDelete(void* context) {
  auto* w = static_cast<Wrapped*>(context);
  Uncount(w->bytes);
  delete w;  // runs the original deleter on the original context
}

std::string Bytes(int64_t bytes) {
  char text[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024.0 * 1024.0)
    std::snprintf(text, sizeof text, "%.2f GiB", b / (1024.0 * 1024.0 * 1024.0));
  else if (b >= 1024.0 * 1024.0)
    std::snprintf(text, sizeof text, "%.1f MiB", b / (1024.0 * 1024.0));
  else if (b >= 1024.0)
    std::snprintf(text, sizeof text, "%.1f KiB", b / 1024.0);
  else
    std::snprintf(text, sizeof text, "%lld bytes", static_cast<long long>(bytes));
  return text;
}

class CountingCpuAllocator final : public c10::Allocator {
 public:
  // LibTorch ≤ 2.2 declares allocate() const and 2.3+ non-const: both are defined, so one overrides either way.
  c10::DataPtr allocate(size_t n) const { return Allocate(n); }
  c10::DataPtr allocate(size_t n) { return Allocate(n); }
  c10::DeleterFnPtr raw_deleter() const override { return S().originalRawDeleter ? &RawDelete : nullptr; }
  // Pure virtual from LibTorch 2.3 (an ordinary member before).
  void copy_data(void* dest, const void* src, std::size_t count) const {
    if (count > 0) std::memcpy(dest, src, count);
  }

 private:
  static c10::DataPtr Allocate(size_t n) {
    State& s = S();
    if (n == 0) return s.original->allocate(0);
    const auto bytes = static_cast<int64_t>(n);
    const int64_t now = s.current.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    const int64_t cap = s.cap.load(std::memory_order_relaxed);
    if (cap > 0 && now > cap) {
      s.current.fetch_sub(bytes, std::memory_order_relaxed);
      s.refused.fetch_add(1, std::memory_order_relaxed);
      C10_THROW_ERROR(OutOfMemoryError,
                      "CPU out of memory: allocating " + Bytes(bytes) + " would exceed the memory cap of " +
                          Bytes(cap) + " (" + Bytes(now - bytes) +
                          " in use by LibTorch tensors; cap set by PETRA_CPU_MEMORY_CAP_MB or setMemoryCap)");
    }
    c10::DataPtr inner;
    try {
      inner = s.original->allocate(n);
    } catch (...) {
      s.current.fetch_sub(bytes, std::memory_order_relaxed);
      throw;
    }
    void* data = inner.get();
    if (data == nullptr) {
      s.current.fetch_sub(bytes, std::memory_order_relaxed);
      return inner;
    }
    int64_t peak = s.peak.load(std::memory_order_relaxed);
    while (now > peak && !s.peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    s.allocations.fetch_add(1, std::memory_order_relaxed);
    s.live.fetch_add(1, std::memory_order_relaxed);
    const c10::Device device = inner.device();
    try {
      if (s.originalRawDeleter != nullptr && inner.get_context() == data &&
          inner.get_deleter() == s.originalRawDeleter) {
        Remember(data, bytes);
        inner.release_context();  // from here on freed by RawDelete
        return c10::DataPtr(data, data, &RawDelete, device);
      }
      auto* w = new Wrapped();
      w->bytes = bytes;
      w->inner = std::move(inner.move_context());
      return c10::DataPtr(data, w, &WrappedDelete, device);
    } catch (...) {
      Uncount(bytes);  // `inner` still owns the memory and frees it on the way out
      throw;
    }
  }
};

int64_t CapFromEnvironment() {
  const char* text = std::getenv("PETRA_CPU_MEMORY_CAP_MB");
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  const double mb = std::strtod(text, &end);
  if (end == text || !(mb > 0)) return 0;  // lib/runtime/info.ts reports a malformed value; here it just means no cap
  const double bytes = mb * 1024.0 * 1024.0;
  // Beyond int64 (1e300 MB, inf) the cast is undefined (UBSan found it): such a cap is no cap.
  if (!(bytes < 9.2e18)) return 0;
  return static_cast<int64_t>(bytes);
}

Napi::Number Num(Napi::Env env, int64_t v) { return Napi::Number::New(env, static_cast<double>(v)); }

Napi::Value MemoryStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuMemoryStats s = GetCpuMemoryStats();
  Napi::Object out = Napi::Object::New(env);
  out.Set("tracking", s.tracking);
  out.Set("currentBytes", Num(env, s.currentBytes));
  out.Set("peakBytes", Num(env, s.peakBytes));
  out.Set("capBytes", Num(env, s.capBytes));
  out.Set("allocations", Num(env, s.allocations));
  out.Set("liveAllocations", Num(env, s.liveAllocations));
  out.Set("refusedAllocations", Num(env, s.refusedAllocations));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  // The C heap under everything (LibTorch's CPU tensors included): in use, free but kept, and in mmapped chunks.
  const struct mallinfo2 heap = mallinfo2();
  Napi::Object c = Napi::Object::New(env);
  c.Set("inUseBytes", Num(env, static_cast<int64_t>(heap.uordblks + heap.hblkhd)));
  c.Set("freeBytes", Num(env, static_cast<int64_t>(heap.fordblks)));
  c.Set("mmappedBytes", Num(env, static_cast<int64_t>(heap.hblkhd)));
  out.Set("cHeap", c);
#endif
  Napi::Array cuda = Napi::Array::New(env);
#ifdef PETRA_WITH_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  for (int d = 0; d < count; ++d) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(d);
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("device", "cuda:" + std::to_string(d));
    dev.Set("allocatedBytes", Num(env, stats.allocated_bytes[0].current));
    dev.Set("peakAllocatedBytes", Num(env, stats.allocated_bytes[0].peak));
    dev.Set("reservedBytes", Num(env, stats.reserved_bytes[0].current));
    cuda.Set(static_cast<uint32_t>(d), dev);
  }
#endif
  out.Set("cuda", cuda);
  return out;
}

// setMemoryCap(bytes, device = 'cpu'): bytes ≥ 0 (0: none), validated in lib/runtime/info.ts.
Napi::Value SetMemoryCapJs(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsNumber()) Fail(ErrorCode::Config, "setMemoryCap: a number of bytes (0: no cap) is required");
    const double bytes = info[0].As<Napi::Number>().DoubleValue();
    if (!(bytes >= 0) || bytes > 9.0e18) Fail(ErrorCode::Config, "setMemoryCap: bytes must be ≥ 0");
    const std::string device = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "cpu";
    const torch::Device d = ParseDevice(device);
    if (d.is_cpu()) {
      if (!S().tracking && bytes > 0) {
        Fail(ErrorCode::Config,
             "setMemoryCap: the CPU memory cap needs petra's counting allocator, which is off "
             "(PETRA_MEMORY_TRACKING=0, or "
             "another library replaced LibTorch's CPU allocator first)");
      }
      SetCpuMemoryCap(static_cast<int64_t>(bytes));
      return info.Env().Undefined();
    }
#ifdef PETRA_WITH_CUDA
    // The caching allocator's per-process fraction: allocations beyond it fail with CUDA's own "out of memory".
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, d.index()) != cudaSuccess)
      Fail(ErrorCode::Device, "setMemoryCap: cannot read " + device + "'s properties");
    const double total = static_cast<double>(prop.totalGlobalMem);
    if (bytes > total)
      Fail(ErrorCode::Config, "setMemoryCap: " + device + " has only " + Bytes(static_cast<int64_t>(total)));
    c10::cuda::CUDACachingAllocator::setMemoryFraction(bytes > 0 ? bytes / total : 1.0, d.index());
#endif
    return info.Env().Undefined();
  });
}

Napi::Value ResetPeakMemoryJs(const Napi::CallbackInfo& info) {
  ResetCpuMemoryPeak();
#ifdef PETRA_WITH_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  for (int d = 0; d < count; ++d) c10::cuda::CUDACachingAllocator::resetPeakStats(d);
#endif
  return info.Env().Undefined();
}

// Hands the C heap's free pages back to the operating system (glibc's malloc_trim). Freed memory otherwise stays in
// the process: glibc raises its mmap threshold after large frees, so later tensors of a few MiB come from heaps
// that only shrink from the top, and every thread that allocated (OpenMP workers, compute threads) has an arena.
Napi::Value TrimMemoryJs(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

CHeapSettings& CHeapState() {
  static CHeapSettings s{"default", 0, 0};
  return s;
}

}  // namespace

// glibc serves a tensor of more than its mmap threshold (128 KiB at start, raised after large frees) with a fresh
// mmap and returns free heap tops above the trim threshold at once, so an inference loop whose activations are a few
// MiB pays page faults on every call: a small CNN at batch 64 ran 40–50 ms instead of 7.8 ms from a fresh process
// (Debian's PyTorch alike: 50 → 11.8 ms), and a model's speed depended on what the process had allocated before it.
// Raising the mmap threshold to glibc's maximum (32 MiB on 64-bit) and the trim threshold to 1 GiB keeps freed
// activations in the heap for the next call. petra still hands free pages back explicitly after each candidate
// (trimMemory → malloc_trim), which ignores the trim threshold, so a search's RSS stays bounded.
void ConfigureCHeap() {
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__GLIBC__)
    CHeapSettings& s = CHeapState();
    const char* mode = std::getenv("PETRA_MALLOC");
    if (mode != nullptr && std::string(mode) == "default") return;
    for (const char* var : {"GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                            "MALLOC_MMAP_MAX_"}) {
      if (std::getenv(var) != nullptr) {
        s.mode = "environment";
        return;
      }
    }
    constexpr int kMmapThreshold = 32 << 20;  // glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
    constexpr int kTrimThreshold = 1 << 30;
    if (mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1) {
      s = CHeapSettings{"tensor-friendly", kMmapThreshold, kTrimThreshold};
    }
#endif
  });
}

const CHeapSettings& CHeap() { return CHeapState(); }

void InstallCpuMemoryTracking() {
  static std::once_flag once;
  std::call_once(once, [] {
    State& s = S();
    const char* off = std::getenv("PETRA_MEMORY_TRACKING");
    if (off != nullptr && std::string(off) == "0") return;
    s.original = c10::GetCPUAllocator();
    s.originalRawDeleter = s.original->raw_deleter();
    s.cap.store(CapFromEnvironment());
    static CountingCpuAllocator* counting = new CountingCpuAllocator();  // LibTorch keeps the pointer for ever
    c10::SetCPUAllocator(counting, /*priority=*/0);
    // A higher-priority allocator set by someone else wins; then there is nothing to count.
    s.tracking = c10::GetCPUAllocator() == counting;
  });
}

CpuMemoryStats GetCpuMemoryStats() {
  State& s = S();
  CpuMemoryStats out;
  out.tracking = s.tracking;
  out.currentBytes = s.current.load();
  out.peakBytes = s.peak.load();
  out.capBytes = s.cap.load();
  out.allocations = s.allocations.load();
  out.liveAllocations = s.live.load();
  out.refusedAllocations = s.refused.load();
  return out;
}

void SetCpuMemoryCap(int64_t bytes) { S().cap.store(bytes < 0 ? 0 : bytes); }

void ResetCpuMemoryPeak() { S().peak.store(S().current.load()); }

void InitMemory(Napi::Env env, Napi::Object exports) {
  InstallCpuMemoryTracking();
  exports.Set("memoryStats", Napi::Function::New<MemoryStatsJs>(env, "memoryStats"));
  exports.Set("setMemoryCap", Napi::Function::New<SetMemoryCapJs>(env, "setMemoryCap"));
  exports.Set("resetPeakMemory", Napi::Function::New<ResetPeakMemoryJs>(env, "resetPeakMemory"));
  exports.Set("trimMemory", Napi::Function::New<TrimMemoryJs>(env, "trimMemory"));
}

}  // namespace petra
