#include "compute_thread.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

namespace petra {
namespace {

std::atomic<int> requestedThreads{0};  // 0: not set yet (LibTorch's default)
std::atomic<bool> explicitlySet{false};
// at::set_num_threads also writes process-wide state (the count new threads start with, QNNPACK's pthreadpool), so
// after a JS thread calls it the compute thread re-applies its own count before its next task.
std::atomic<unsigned> globalWrites{0};
thread_local bool onComputeThread = false;

int Wanted() {
  const int n = requestedThreads.load();
  return n > 0 ? n : at::intraop_default_num_threads();
}

// Brings the calling thread's intra-op count to the requested one when it, or a JS thread's write, changed since
// this thread last applied it. Every thread that runs operations (compute, overflow, libuv when disabled) calls it.
void ApplyThreadsIfChanged() {
  thread_local int applied = -1;
  thread_local unsigned seenWrites = ~0u;
  const int want = Wanted();
  const unsigned writes = globalWrites.load();
  if (want == applied && writes == seenWrites) return;
  {
    // Both calls resize the pthreadpool (see compute_thread.h): LibTorch's lazy per-thread init, which
    // at::get_num_threads runs first on a new thread (so it cannot undo the count below later), calls
    // at::set_num_threads itself.
    std::lock_guard<std::mutex> lock(QnnpackMutex());
    at::get_num_threads();
    at::set_num_threads(want);
  }
  applied = want;
  seenWrites = writes;
}

struct Task {
  const std::function<void()>* fn;
  std::exception_ptr error;
  bool done = false;
  void Run() {
    try {
      ApplyThreadsIfChanged();
      (*fn)();
    } catch (...) {
      error = std::current_exception();
    }
  }
};

class ComputeThread {
 public:
  ComputeThread() : thread_([this] { Loop(); }) {}

  void Run(const std::function<void()>& fn) {
    if (onComputeThread) {
      fn();
      return;
    }
    Task task{&fn};
    std::unique_lock<std::mutex> lock(mutex_);
    if (current_ == nullptr) {
      current_ = &task;
      wake_.notify_one();
      finished_.wait(lock, [&] { return task.done; });
    } else {
      lock.unlock();
      std::thread overflow([&task] {
        onComputeThread = true;
        task.Run();
      });
      overflow.join();
    }
    if (task.error) std::rethrow_exception(task.error);
  }

 private:
  void Loop() {
    onComputeThread = true;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return current_ != nullptr; });
      Task* task = current_;
      lock.unlock();
      task->Run();
      lock.lock();
      task->done = true;
      current_ = nullptr;
      finished_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  Task* current_ = nullptr;
  std::thread thread_;
};

ComputeThread& Instance() {
  // Never destroyed: a joinable std::thread's destructor would terminate the process at exit.
  static ComputeThread* instance = new ComputeThread();
  return *instance;
}

}  // namespace

// PETRA_COMPUTE_THREAD=0 runs each operation on whichever libuv thread picked it up (the behaviour before the compute
// thread existed), for bench/compute-thread.ts and for anyone who wants to compare on their machine.
static bool ComputeThreadDisabled() {
  static const bool disabled = [] {
    const char* v = std::getenv("PETRA_COMPUTE_THREAD");
    return v != nullptr && std::string(v) == "0";
  }();
  return disabled;
}

void RunOnComputeThread(const std::function<void()>& fn) {
  if (ComputeThreadDisabled()) {
    ApplyThreadsIfChanged();
    fn();
    return;
  }
  Instance().Run(fn);
}

void SetComputeThreads(int n, bool onlyIfUnset) {
  if (onlyIfUnset) {
    if (explicitlySet.load()) return;
    int expected = 0;
    requestedThreads.compare_exchange_strong(expected, n);
    return;
  }
  explicitlySet.store(true);
  requestedThreads.store(n);
}

int ComputeThreads() { return Wanted(); }

std::mutex& QnnpackMutex() {
  static std::mutex mutex;  // process-wide on purpose: the pool is process-wide
  return mutex;
}

void UseSingleThreadOnJsThread() {
  thread_local bool done = false;
  if (done || onComputeThread) return;
  done = true;
  std::lock_guard<std::mutex> lock(QnnpackMutex());  // both may resize the pthreadpool (see ApplyThreadsIfChanged)
  if (at::get_num_threads() != 1) {
    at::set_num_threads(1);
    globalWrites.fetch_add(1);
  }
}

}  // namespace petra
