// The measurement lab's timing loop: warm up, then time single forwards until the median's 95% confidence
// interval is narrow enough or a time cap is hit. Works on petra models and on any TorchScript module.
#include <torch/script.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>

#include "model.h"

#ifdef PETRA_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace petra {
namespace {

using Clock = std::chrono::steady_clock;
using ForwardFn = std::function<void(const std::vector<torch::Tensor>&)>;

struct BenchOptions {
  std::vector<int64_t> batchSizes{1};
  int64_t warmupIterations = 10;
  double warmupMs = 150;  // and at least this long: first calls pay for kernel selection and thread-pool start
  int64_t minIterations = 20;
  int64_t maxIterations = 100000;
  double targetRelativeCi = 0.02;  // stop when (ci high - ci low) / median <= this
  double timeCapMs = 3000;         // per batch size
  bool cudaGraph = false;          // CUDA: capture the forward once, time graph replays (no CPU launch overhead)
};

struct BenchResult {
  int64_t batchSize = 1;
  std::vector<double> samplesMs;
  double ciLowMs = 0, ciHighMs = 0;
  double peakBytes = 0;
  std::string peakKind;
  bool converged = false;
};

double RssBytes() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * 4096.0;
}

// Order-statistic confidence interval of the median (distribution-free): ranks n/2 ∓ 1.96·√n/2.
std::pair<double, double> MedianCi(std::vector<double> sorted) {
  std::sort(sorted.begin(), sorted.end());
  const double n = static_cast<double>(sorted.size());
  const double half = 1.96 * std::sqrt(n) / 2;
  const auto lo = static_cast<size_t>(std::max(0.0, std::floor(n / 2 - half)));
  const auto hi = static_cast<size_t>(std::min(n - 1, std::ceil(n / 2 + half)));
  return {sorted[lo], sorted[hi]};
}

class Timer {
 public:
  explicit Timer(const torch::Device& device) : device_(device) {
#ifdef PETRA_WITH_CUDA
    if (device_.is_cuda()) {
      cudaEventCreate(&start_);
      cudaEventCreate(&stop_);
    }
#endif
  }
  ~Timer() {
#ifdef PETRA_WITH_CUDA
    if (device_.is_cuda()) {
      cudaEventDestroy(start_);
      cudaEventDestroy(stop_);
    }
#endif
  }
  // Milliseconds of one call: CUDA events on the current stream on GPU, the steady clock on CPU.
  double Time(const std::function<void()>& fn) {
#ifdef PETRA_WITH_CUDA
    if (device_.is_cuda()) {
      cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device_.index()).stream();
      cudaEventRecord(start_, stream);
      fn();
      cudaEventRecord(stop_, stream);
      cudaEventSynchronize(stop_);
      float ms = 0;
      cudaEventElapsedTime(&ms, start_, stop_);
      return ms;
    }
#endif
    const auto t0 = Clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }

 private:
  torch::Device device_;
#ifdef PETRA_WITH_CUDA
  cudaEvent_t start_{}, stop_{};
#endif
};

BenchResult TimeBatch(const ForwardFn& forward, const std::vector<torch::Tensor>& inputs, const torch::Device& device,
                      const BenchOptions& o, int64_t batchSize, bool resetPeak = true) {
  BenchResult r;
  r.batchSize = batchSize;
  Timer timer(device);
  auto call = [&] { forward(inputs); };
#ifdef PETRA_WITH_CUDA
  if (device.is_cuda() && resetPeak) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
  const double rssBefore = RssBytes();
  double rssPeak = rssBefore;
  const auto warmStart = Clock::now();
  for (int64_t i = 0;
       i < o.warmupIterations ||
       (std::chrono::duration<double, std::milli>(Clock::now() - warmStart).count() < o.warmupMs && i < 100000);
       ++i) {
    timer.Time(call);
  }
  const auto started = Clock::now();
  while (static_cast<int64_t>(r.samplesMs.size()) < o.maxIterations) {
    r.samplesMs.push_back(timer.Time(call));
    const int64_t n = static_cast<int64_t>(r.samplesMs.size());
    if (n % 10 == 0) rssPeak = std::max(rssPeak, RssBytes());
    if (n >= o.minIterations && n % 5 == 0) {
      auto ci = MedianCi(r.samplesMs);
      std::vector<double> s = r.samplesMs;
      std::nth_element(s.begin(), s.begin() + n / 2, s.end());
      const double med = s[n / 2];
      if (med > 0 && (ci.second - ci.first) / med <= o.targetRelativeCi) {
        r.converged = true;
        break;
      }
    }
    if (std::chrono::duration<double, std::milli>(Clock::now() - started).count() >= o.timeCapMs &&
        n >= std::min<int64_t>(o.minIterations, 5)) {
      break;
    }
  }
  auto ci = MedianCi(r.samplesMs);
  r.ciLowMs = ci.first;
  r.ciHighMs = ci.second;
#ifdef PETRA_WITH_CUDA
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    r.peakBytes = static_cast<double>(stats.allocated_bytes[0].peak);
    r.peakKind = "cuda-max-allocated";
    return r;
  }
#endif
  r.peakBytes = std::max(0.0, rssPeak - rssBefore);
  r.peakKind = "cpu-rss-delta";
  return r;
}

#ifdef PETRA_WITH_CUDA
// CUDA-graph mode: the forward is captured once and every timed iteration replays the graph, so the measurement is
// the GPU's time without per-kernel CPU launch overhead (what a deployment that uses CUDA graphs sees). Capture needs
// a side stream, and a warm-up there first so cuBLAS/cuDNN choose algorithms and allocate workspaces outside it.
BenchResult TimeBatchCudaGraph(const ForwardFn& forward, const std::vector<torch::Tensor>& inputs,
                               const torch::Device& device, const BenchOptions& o, int64_t batchSize) {
  c10::cuda::CUDAGuard deviceGuard(device);
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, device.index());
  c10::cuda::CUDAStreamGuard streamGuard(side);
  c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());  // the graph's private pool counts in the peak
  for (int i = 0; i < 3; ++i) forward(inputs);
  side.synchronize();
  at::cuda::CUDAGraph graph;
  try {
    graph.capture_begin();
    forward(inputs);
    graph.capture_end();
  } catch (...) {
    // Leave the stream out of capture mode, or every later CUDA call on it fails.
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(side.stream(), &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
      cudaGraph_t broken = nullptr;
      cudaStreamEndCapture(side.stream(), &broken);
      if (broken != nullptr) cudaGraphDestroy(broken);
    }
    cudaGetLastError();
    CaughtError e = Classify(std::current_exception());
    Fail(ErrorCode::Device,
         "this model cannot be captured in a CUDA graph (host synchronization or a CPU op in its forward?): " +
             e.message);
  }
  ForwardFn replay = [&graph](const std::vector<torch::Tensor>&) { graph.replay(); };
  return TimeBatch(replay, inputs, device, o, batchSize, /*resetPeak=*/false);
}
#endif

class BenchWorker : public PromiseWorker {
 public:
  using InputMaker = std::function<std::vector<torch::Tensor>(int64_t batch)>;
  BenchWorker(Napi::Env env, std::shared_ptr<std::mutex> lock, ForwardFn forward, InputMaker makeInputs,
              torch::Device device, BenchOptions options, std::shared_ptr<void> keepAlive)
      : PromiseWorker(env, "petra.benchmark"),
        lock_(std::move(lock)),
        forward_(std::move(forward)),
        makeInputs_(std::move(makeInputs)),
        device_(device),
        options_(std::move(options)),
        keepAlive_(std::move(keepAlive)) {}

 protected:
  void Run() override {
    std::lock_guard<std::mutex> guard(*lock_);
    c10::InferenceMode inference;
    if (options_.cudaGraph && !device_.is_cuda())
      Fail(ErrorCode::Config, "cudaGraph: CUDA-graph mode needs a model on a CUDA device");
    for (int64_t batch : options_.batchSizes) {
      std::vector<torch::Tensor> inputs = makeInputs_(batch);
#ifdef PETRA_WITH_CUDA
      if (options_.cudaGraph) {
        results_.push_back(TimeBatchCudaGraph(forward_, inputs, device_, options_, batch));
        continue;
      }
#endif
      results_.push_back(TimeBatch(forward_, inputs, device_, options_, batch));
    }
  }
  Napi::Value Resolve(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); ++i) {
      const BenchResult& r = results_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("batchSize", static_cast<double>(r.batchSize));
      Napi::Float64Array samples = Napi::Float64Array::New(env, r.samplesMs.size());
      std::copy(r.samplesMs.begin(), r.samplesMs.end(), samples.Data());
      o.Set("samplesMs", samples);
      o.Set("ciLowMs", r.ciLowMs);
      o.Set("ciHighMs", r.ciHighMs);
      o.Set("converged", r.converged);
      o.Set("peakBytes", r.peakBytes);
      o.Set("peakKind", r.peakKind);
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

 private:
  std::shared_ptr<std::mutex> lock_;
  ForwardFn forward_;
  InputMaker makeInputs_;
  torch::Device device_;
  BenchOptions options_;
  std::shared_ptr<void> keepAlive_;
  std::vector<BenchResult> results_;
};

BenchOptions OptionsFromJs(const Napi::Value& value) {
  BenchOptions o;
  if (!value.IsObject()) return o;
  Napi::Object obj = value.As<Napi::Object>();
  auto num = [&](const char* key, double fallback) {
    Napi::Value v = obj.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
  };
  Napi::Value sizes = obj.Get("batchSizes");
  if (sizes.IsArray()) {
    o.batchSizes = ShapeFromJs(sizes, "batchSizes");
    for (int64_t b : o.batchSizes)
      if (b < 1) Fail(ErrorCode::Config, "batchSizes must be positive integers");
  }
  // ToInt64, not a cast: maxIterations: Infinity (or NaN) was undefined behaviour (in practice INT64_MIN, so
  // "no limit" silently meant minIterations); now a ConfigError.
  o.warmupIterations = ToInt64(num("warmupIterations", 10), "warmupIterations");
  o.warmupMs = num("warmupMs", 150);
  o.minIterations = std::max<int64_t>(1, ToInt64(num("minIterations", 20), "minIterations"));
  o.maxIterations = std::max<int64_t>(o.minIterations, ToInt64(num("maxIterations", 100000), "maxIterations"));
  o.targetRelativeCi = num("targetRelativeCi", 0.02);
  o.timeCapMs = num("timeCapMs", 3000);
  o.cudaGraph = obj.Get("cudaGraph").IsBoolean() && obj.Get("cudaGraph").As<Napi::Boolean>().Value();
  return o;
}

// Petra models: inputs follow the spec (float inputs random normal; int64 inputs zeros, a valid index anywhere).
Napi::Value BenchmarkModel(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    auto state = UnwrapModel(info[0]);
    BenchOptions options = OptionsFromJs(info[1]);
    const torch::Device device = state->device;
    const GraphSpec spec = state->spec;
    auto makeInputs = [spec, device](int64_t batch) {
      std::vector<torch::Tensor> inputs;
      torch::manual_seed(0);
      for (const auto& in : spec.inputs) {
        std::vector<int64_t> shape{batch};
        shape.insert(shape.end(), in.shape.begin(), in.shape.end());
        inputs.push_back(in.isInt64 ? torch::zeros(shape, torch::TensorOptions().dtype(torch::kInt64).device(device))
                                    : torch::randn(shape, torch::TensorOptions().device(device)));
      }
      return inputs;
    };
    ModelState* raw = state.get();
    ForwardFn forward = [raw](const std::vector<torch::Tensor>& x) {
      raw->module->eval();
      raw->module->forward(x);
    };
    std::shared_ptr<std::mutex> lock(state, &state->mutex);  // aliasing: locks the model's own mutex
    return (new BenchWorker(info.Env(), lock, forward, makeInputs, device, options, state))->Queue();
  });
}

struct ScriptState {
  torch::jit::script::Module module;
  torch::Device device{torch::kCPU};
  std::mutex mutex;
  std::string petraSpec;  // the spec petra's TorchScript export stores beside the code ('' for other files)
};

// One benchmark input: its per-sample shape, and for token inputs (int64) the exclusive upper bound of the ids.
struct ScriptInput {
  std::vector<int64_t> shape;
  int64_t tokens = 0;  // > 0: int64 ids in [0, tokens)
};

class ScriptModel : public Napi::ObjectWrap<ScriptModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeScriptModel",
        {InstanceMethod<&ScriptModel::Benchmark>("benchmark"), InstanceMethod<&ScriptModel::Forward>("forward"),
         InstanceMethod<&ScriptModel::DeviceName>("device"), InstanceMethod<&ScriptModel::PetraSpec>("petraSpec"),
         InstanceMethod<&ScriptModel::Dispose>("dispose")});
  }
  explicit ScriptModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ScriptModel>(info) {}
  void Attach(std::shared_ptr<ScriptState> s) { state_ = std::move(s); }

 private:
  std::shared_ptr<ScriptState> State(Napi::Env env) {
    if (!state_)
      throw MakeError(env, {ErrorCode::Disposed, "TorchScript model was disposed and can no longer be used"});
    return state_;
  }
  // inputShapes: per-input shapes without the batch dimension (standard normal floats), or { shape, tokens } for
  // int64 token ids drawn uniformly below `tokens` (an embedding's input).
  Napi::Value Benchmark(const Napi::CallbackInfo& info) {
    auto state = State(info.Env());
    return Guarded(info.Env(), [&]() -> Napi::Value {
      if (!info[0].IsArray()) Fail(ErrorCode::Config, "benchmark: inputShapes must be an array of shapes");
      Napi::Array shapesJs = info[0].As<Napi::Array>();
      std::vector<ScriptInput> shapes;
      for (uint32_t i = 0; i < shapesJs.Length(); ++i) {
        const std::string what = "inputShapes[" + std::to_string(i) + "]";
        Napi::Value v = shapesJs.Get(i);
        ScriptInput input;
        if (v.IsObject() && !v.IsArray()) {
          Napi::Object o = v.As<Napi::Object>();
          input.shape = ShapeFromJs(o.Get("shape"), what + ".shape");
          input.tokens = ToInt64(o.Get("tokens").ToNumber().DoubleValue(), what + ".tokens");
          if (input.tokens < 1) Fail(ErrorCode::Config, what + ".tokens must be a positive integer");
        } else {
          input.shape = ShapeFromJs(v, what);
        }
        shapes.push_back(std::move(input));
      }
      if (shapes.empty()) Fail(ErrorCode::Config, "benchmark: at least one input shape is required");
      BenchOptions options = OptionsFromJs(info[1]);
      const torch::Device device = state->device;
      auto makeInputs = [shapes, device](int64_t batch) {
        std::vector<torch::Tensor> inputs;
        torch::manual_seed(0);
        for (const auto& s : shapes) {
          std::vector<int64_t> shape{batch};
          shape.insert(shape.end(), s.shape.begin(), s.shape.end());
          inputs.push_back(s.tokens > 0 ? torch::randint(0, s.tokens, shape,
                                                         torch::TensorOptions().dtype(torch::kLong).device(device))
                                        : torch::randn(shape, torch::TensorOptions().device(device)));
        }
        return inputs;
      };
      // Fail early and typed on a wrong input shape, not deep inside the timing loop.
      {
        std::lock_guard<std::mutex> guard(state->mutex);
        c10::InferenceMode inference;
        RunScript(*state, makeInputs(1));
      }
      ScriptState* raw = state.get();
      ForwardFn forward = [raw](const std::vector<torch::Tensor>& x) { RunScript(*raw, x); };
      std::shared_ptr<std::mutex> lock(state, &state->mutex);
      return (new BenchWorker(info.Env(), lock, forward, makeInputs, device, options, state))->Queue();
    });
  }
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    auto state = State(info.Env());
    return Guarded(info.Env(), [&]() -> Napi::Value {
      Napi::Array array = info[0].As<Napi::Array>();
      std::vector<torch::Tensor> inputs;
      for (uint32_t i = 0; i < array.Length(); ++i)
        inputs.push_back(TensorFromJs(array.Get(i), "inputs[" + std::to_string(i) + "]").to(state->device));
      std::lock_guard<std::mutex> guard(state->mutex);
      c10::InferenceMode inference;
      return TensorToJs(info.Env(), RunScript(*state, inputs));
    });
  }
  Napi::Value PetraSpec(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), State(info.Env())->petraSpec);
  }
  Napi::Value DeviceName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), petra::DeviceName(State(info.Env())->device));
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    state_.reset();
    return info.Env().Undefined();
  }

  static torch::Tensor RunScript(ScriptState& state, const std::vector<torch::Tensor>& inputs) {
    std::vector<torch::jit::IValue> args(inputs.begin(), inputs.end());
    torch::jit::IValue out;
    std::unique_lock<std::mutex> qnnpack;
    if (at::globalContext().qEngine() == at::QEngine::QNNPACK) qnnpack = std::unique_lock<std::mutex>(QnnpackMutex());
    try {
      out = state.module.forward(args);
    } catch (const c10::Error& e) {
      ErrorCode code = ClassifyTorchMessage(CleanTorchMessage(e));
      Fail(code == ErrorCode::Native ? ErrorCode::Shape : code, "TorchScript forward failed: " + CleanTorchMessage(e));
    } catch (const std::exception& e) {
      // TorchScript interpreter errors (wrong rank, wrong arity) arrive as plain std::exception.
      Fail(ErrorCode::Shape, std::string("TorchScript forward failed: ") + e.what());
    }
    if (out.isTensor()) return out.toTensor();
    if (out.isTuple() && !out.toTuple()->elements().empty() && out.toTuple()->elements()[0].isTensor()) {
      return out.toTuple()->elements()[0].toTensor();
    }
    Fail(ErrorCode::Config, "TorchScript forward returned neither a tensor nor a tuple of tensors");
  }

  std::shared_ptr<ScriptState> state_;
};

Napi::FunctionReference* scriptConstructorFor(Napi::Env env);

Napi::Value LoadTorchScript(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    const torch::Device device = ParseDevice(info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "cpu");
    if (!std::ifstream(path).good()) Fail(ErrorCode::Data, "cannot read TorchScript file '" + path + "': no such file");
    auto state = std::make_shared<ScriptState>();
    try {
      torch::jit::ExtraFilesMap extra{{"petra/spec.json", ""}};
      state->module = torch::jit::load(path, device, extra);
      state->petraSpec = extra["petra/spec.json"];
    } catch (const c10::Error& e) {
      Fail(ErrorCode::Data, "'" + path + "' is not a TorchScript model: " + CleanTorchMessage(e));
    } catch (const std::exception& e) {
      Fail(ErrorCode::Data, "'" + path + "' is not a TorchScript model: " + e.what());
    }
    state->module.eval();
    state->device = device;
    Napi::Object object = scriptConstructorFor(info.Env())->New({});
    ScriptModel::Unwrap(object)->Attach(state);
    return object;
  });
}

Napi::FunctionReference* scriptConstructorFor(Napi::Env env) { return &Data(env).scriptConstructor; }

}  // namespace

void InitBench(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = ScriptModel::Define(env);
  Data(env).scriptConstructor = Napi::Persistent(ctor);
  exports.Set("NativeScriptModel", ctor);
  exports.Set("benchmarkModel", Napi::Function::New<BenchmarkModel>(env, "benchmarkModel"));
  exports.Set("loadTorchScript", Napi::Function::New<LoadTorchScript>(env, "loadTorchScript"));
}

}  // namespace petra
