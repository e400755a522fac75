// Where asynchronous LibTorch operations run: on one long-lived compute thread whenever it is free.
//
// Why not the libuv pool: LibTorch's CPU kernels parallelize with OpenMP, and libgomp keeps one team of worker
// threads per thread that opens a parallel region, for that thread's lifetime. Once successive operations hop
// between libuv threads, several teams exist; when their threads outnumber the cores, libgomp "throttles" (workers
// sleep on a futex between regions instead of spinning) and every small op pays a wake-up. Measured on 2 cores,
// ResNet-20 batch 1 at 2 threads: 0.94 ms on one thread, 2.9 ms once a second pool thread had run one forward.
// Sequential work (a search, a benchmark) therefore always lands on the same thread and team. An operation that
// arrives while that thread is busy runs at once on a short-lived thread instead of waiting (a forward must not
// queue behind a training epoch); its team dies with it, so concurrency leaves no lasting slowdown.
#pragma once

#include <functional>
#include <mutex>

namespace petra {

// Runs fn on the compute thread if it is idle, else on a fresh thread, and waits; rethrows what fn threw.
// Called from a compute thread it runs fn inline. PETRA_COMPUTE_THREAD=0 runs fn on the calling (libuv) thread.
void RunOnComputeThread(const std::function<void()>& fn);

// Intra-op threads for compute threads (validated by the caller). `onlyIfUnset` lets every JS environment (main
// thread, worker_threads) install the default without undoing a count the user chose.
void SetComputeThreads(int n, bool onlyIfUnset);
int ComputeThreads();

// QNNPACK runs its kernels on LibTorch's one process-wide pthreadpool, and at::set_num_threads destroys and recreates
// that pool without waiting for work in flight (caffe2's PThreadPool assumes one caller). LibTorch calls it itself
// in each new thread's lazy init, so an overflow compute thread starting while a QNNPACK forward ran elsewhere hung
// the process. Every thread-count change here (lazy init included), every forward of a model with QNNPACK layers and
// every TorchScript forward under the QNNPACK engine holds this mutex: the pool is never resized under a QNNPACK op.
std::mutex& QnnpackMutex();

// JS threads run only short synchronous operations (build, clone, derive, tensors) and use one intra-op thread, so
// they never open an OpenMP team of their own. Idempotent and cheap; called at every synchronous native entry.
void UseSingleThreadOnJsThread();

}  // namespace petra
