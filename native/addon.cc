// Module entry: per-environment state, info(), thread control and the error factory hook.
#include <torch/version.h>

#include <fstream>
#include <thread>

#include "cpu_isa.h"
#include "int8_scheme.h"
#include "memory.h"
#include "model.h"
#include "quantize.h"

#ifdef PETRA_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace petra {

void InitTrainer(Napi::Env env, Napi::Object exports);
void InitBench(Napi::Env env, Napi::Object exports);
void InitQuantize(Napi::Env env, Napi::Object exports);
void InitTorchScriptImport(Napi::Env env, Napi::Object exports);
void InitTorchScriptExport(Napi::Env env, Napi::Object exports);

namespace {

// Which BLAS the process really loaded (a reference BLAS is 25× slower than OpenBLAS for fp32 GEMM).
std::string LoadedBlas() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    for (const char* name : {"libopenblas", "libmkl_rt", "libblis", "libblas"}) {
      auto at = line.find(name);
      if (at != std::string::npos) {
        std::string file = line.substr(line.find('/'));
        if (std::string(name) != "libblas" || found.empty()) found = file;
        if (std::string(name) != "libblas") return found;
      }
    }
  }
  return found.empty() ? "unknown" : found;
}

// The CPU's int8 facts: the exact scheme (int8_scheme.h) and which clone of petra's own kernels runs (cpu_isa.h).
Napi::Object Int8Info(Napi::Env env) {
  const CpuFacts& cpu = HostCpu();
  const Int8Scheme& scheme = HostInt8Scheme();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cpu", cpu.model);
  Napi::Array flags = Napi::Array::New(env);
  for (uint32_t i = 0; i < cpu.int8Flags.size(); ++i) flags.Set(i, cpu.int8Flags[i]);
  o.Set("cpuFlags", flags);
  o.Set("vnni", cpu.vnni);
  o.Set("weightBits", scheme.weightBits);
  o.Set("reason", scheme.reason);
  o.Set("oneDnnIsa", scheme.oneDnnIsa);
  o.Set("oneDnnProbe", scheme.oneDnnProbe);
  o.Set("kernelIsa", KernelIsaName(ActiveKernelIsa()));
  o.Set("kernelIsaReason", KernelIsaReason());
  Napi::Array isas = Napi::Array::New(env);
  uint32_t i = 0;
  for (KernelIsa isa : AvailableKernelIsas()) isas.Set(i++, KernelIsaName(isa));
  o.Set("kernelIsas", isas);
  return o;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("libtorchVersion", std::string(TORCH_VERSION));
  out.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  Napi::Object threads = Napi::Object::New(env);
  threads.Set("intraOp", Napi::Number::New(env, ComputeThreads()));
  threads.Set("interOp", Napi::Number::New(env, at::get_num_interop_threads()));
  threads.Set("hardware", Napi::Number::New(env, std::thread::hardware_concurrency()));
  out.Set("threads", threads);
  Napi::Array engines = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto engine : at::globalContext().supportedQEngines()) engines.Set(i++, std::string(c10::toString(engine)));
  out.Set("quantizedEngines", engines);
  out.Set("quantizedEngine", std::string(c10::toString(at::globalContext().qEngine())));
  out.Set("blas", LoadedBlas());
  Napi::Object heap = Napi::Object::New(env);
  heap.Set("mode", CHeap().mode);
  heap.Set("mmapThreshold", Napi::Number::New(env, static_cast<double>(CHeap().mmapThreshold)));
  heap.Set("trimThreshold", Napi::Number::New(env, static_cast<double>(CHeap().trimThreshold)));
  out.Set("cHeap", heap);
  out.Set("int8", Int8Info(env));
  Napi::Object cuda = Napi::Object::New(env);
  const bool available = torch::cuda::is_available();
  cuda.Set("available", available);
  Napi::Array devices = Napi::Array::New(env);
#ifdef PETRA_WITH_CUDA
  cuda.Set("compiled", true);
  if (available) {
    int count = 0;
    cudaGetDeviceCount(&count);
    for (int d = 0; d < count; ++d) {
      cudaDeviceProp prop;
      if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
      Napi::Object dev = Napi::Object::New(env);
      dev.Set("index", d);
      dev.Set("name", std::string(prop.name));
      dev.Set("totalMemory", static_cast<double>(prop.totalGlobalMem));
      dev.Set("computeCapability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
      devices.Set(static_cast<uint32_t>(d), dev);
    }
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    cuda.Set("driverVersion", driver);
    cuda.Set("runtimeVersion", runtime);
  }
#else
  cuda.Set("compiled", false);
#endif
  cuda.Set("devices", devices);
#ifdef PETRA_WITH_CUDA
  cuda.Set("int8Gemm", IntMmOnCuda());  // quantize({ backend: 'cuda' }) has torch._int_mm
#else
  cuda.Set("int8Gemm", false);
#endif
  out.Set("cuda", cuda);
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsNumber()) Fail(ErrorCode::Config, "setThreads: a positive integer is required");
    const int64_t n = info[0].As<Napi::Number>().Int64Value();
    if (n < 1 || n > 1024)
      Fail(ErrorCode::Config, "setThreads: a positive integer is required, got " + std::to_string(n));
    // Applied on the compute thread before its next operation (see compute_thread.h).
    SetComputeThreads(static_cast<int>(n), info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  });
}

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorFactory: a function is required");
  Data(info.Env()).errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value SetQuantizedEngine(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    UseQuantizedEngine(info[0].As<Napi::String>().Utf8Value());
    return info.Env().Undefined();
  });
}

// Which clone of petra's int8 kernels runs from now on, process-wide (tests run each clone; PETRA_CPU_ISA at load).
Napi::Value SetKernelIsaJs(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsString()) Fail(ErrorCode::Config, "setKernelIsa: a string (avx512, avx2 or baseline) is required");
    SetKernelIsa(info[0].As<Napi::String>().Utf8Value());
    return info.Env().Undefined();
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());  // freed by node-addon-api when this environment is torn down
  UseSingleThreadOnJsThread();
  ConfigureCHeap();          // before any tensor: how glibc serves large ones
  InitMemory(env, exports);  // first: the counting CPU allocator must see every tensor petra makes
  InitModel(env, exports);
  InitDataset(env, exports);
  InitTrainer(env, exports);
  InitBench(env, exports);
  InitQuantize(env, exports);
  InitTorchScriptImport(env, exports);
  InitTorchScriptExport(env, exports);
  exports.Set("info", Napi::Function::New<Info>(env, "info"));
  exports.Set("setThreads", Napi::Function::New<SetThreads>(env, "setThreads"));
  exports.Set("setErrorFactory", Napi::Function::New<SetErrorFactory>(env, "setErrorFactory"));
  exports.Set("setQuantizedEngine", Napi::Function::New<SetQuantizedEngine>(env, "setQuantizedEngine"));
  exports.Set("setKernelIsa", Napi::Function::New<SetKernelIsaJs>(env, "setKernelIsa"));
  return exports;
}

}  // namespace petra

static Napi::Object InitPetra(Napi::Env env, Napi::Object exports) { return petra::Init(env, exports); }
NODE_API_MODULE(petra, InitPetra)
