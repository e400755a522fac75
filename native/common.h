// Shared plumbing for every translation unit: the error type that carries a petra error code across
// threads, the per-environment state, and the AsyncWorker base that turns any C++ exception into a
// typed JS error instead of aborting the process.
#pragma once

#include <napi.h>
#include <torch/torch.h>

#include "compute_thread.h"

#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace petra {

// Codes match lib/core/errors.ts (PetraErrorCode).
enum class ErrorCode { Config, Data, Shape, Dtype, Device, Numeric, Aborted, Disposed, Native };
const char* ErrorCodeName(ErrorCode code);

// Thrown by petra's own checks; anything else is classified from its message (see Classify()).
class PetraException : public std::runtime_error {
 public:
  PetraException(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] void Fail(ErrorCode code, const std::string& message);

// A caught exception reduced to what crosses into JS: a code and a message with no C++ backtrace.
struct CaughtError {
  ErrorCode code = ErrorCode::Native;
  std::string message;
};
CaughtError Classify(const std::exception_ptr& error);
// LibTorch reports shape and dtype problems as plain c10::Error; its message is the only signal.
ErrorCode ClassifyTorchMessage(const std::string& message);
// what_without_backtrace() without LibTorch's trailing "Exception raised from ..." context.
std::string CleanTorchMessage(const c10::Error& error);

// Per-environment state (one per main thread / worker_thread), never process globals.
struct AddonData {
  Napi::FunctionReference errorFactory;  // (code, message) => PetraError, installed by lib/runtime/binding.ts
  Napi::FunctionReference modelConstructor;
  Napi::FunctionReference datasetConstructor;
  Napi::FunctionReference trainerConstructor;
  Napi::FunctionReference scriptConstructor;
};
AddonData& Data(Napi::Env env);

Napi::Error MakeError(Napi::Env env, const CaughtError& error);

// Runs fn on the JS thread and rethrows any failure as a typed JS error.
template <typename Fn>
auto Guarded(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  CaughtError caught;
  try {
    UseSingleThreadOnJsThread();
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    caught = Classify(std::current_exception());
  }
  throw MakeError(env, caught);
}

// AsyncWorker + Promise. Subclasses implement Run() (on the compute thread, see compute_thread.h; no N-API) and
// Resolve() (JS thread).
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Queue() {
    Napi::AsyncWorker::Queue();
    return deferred_.Promise();
  }

 protected:
  virtual void Run() = 0;
  virtual Napi::Value Resolve(Napi::Env env) = 0;

 private:
  void Execute() final {
    try {
      RunOnComputeThread([this] { Run(); });
    } catch (...) {
      error_ = Classify(std::current_exception());
      SetError(error_.message);
    }
  }
  void OnOK() final {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      deferred_.Resolve(Resolve(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(MakeError(env, Classify(std::current_exception())).Value());
    }
  }
  void OnError(const Napi::Error&) final {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    deferred_.Reject(MakeError(env, error_).Value());
  }

  Napi::Promise::Deferred deferred_;
  CaughtError error_;
};

// Devices: "cpu", "cuda", "cuda:N". Unknown or unavailable devices fail with ErrorCode::Device.
torch::Device ParseDevice(const std::string& text);
std::string DeviceName(const torch::Device& device);

// JS <-> tensor conversion. Float32Array -> float32, Int32Array -> int64 (exactly one copy each way).
torch::Tensor TensorFromJs(const Napi::Value& value, const std::string& what);
Napi::Object TensorToJs(Napi::Env env, const torch::Tensor& tensor);

std::vector<int64_t> ShapeFromJs(const Napi::Value& value, const std::string& what);

// A number from JS or a spec attribute as int64_t (truncated toward zero, as a cast does). Casting a double that is
// NaN or outside int64_t's range is undefined behaviour (scripts/asan.sh's float-cast-overflow check; x86 happens
// to give INT64_MIN): those fail with ErrorCode::Config naming `what` instead.
int64_t ToInt64(double v, const std::string& what);
std::string ShapeString(at::IntArrayRef shape);

}  // namespace petra
