// Native-held datasets: TypedArrays copied once into tensors on the chosen device, so an epoch reads no JS memory.
#include "model.h"

namespace petra {
namespace {

class Dataset : public Napi::ObjectWrap<Dataset> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeDataset",
        {InstanceMethod<&Dataset::Size>("size"), InstanceMethod<&Dataset::DeviceName>("device"),
         InstanceMethod<&Dataset::Dispose>("dispose"), InstanceMethod<&Dataset::IsDisposed>("isDisposed")});
  }
  explicit Dataset(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Dataset>(info) {}
  ~Dataset() override { Release(); }

  void Attach(std::shared_ptr<DatasetState> state) {
    state_ = std::move(state);
    bytes_ = 0;
    if (state_->device.is_cpu()) {
      for (const auto& t : state_->inputs) bytes_ += t.numel() * static_cast<int64_t>(t.element_size());
      bytes_ += state_->target.numel() * static_cast<int64_t>(state_->target.element_size());
      Napi::MemoryManagement::AdjustExternalMemory(Env(), bytes_);
    }
  }
  std::shared_ptr<DatasetState> State(Napi::Env env) {
    if (!state_) throw MakeError(env, {ErrorCode::Disposed, "dataset was disposed and can no longer be used"});
    return state_;
  }

 private:
  void Release() {
    if (bytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(Env(), -bytes_);
    bytes_ = 0;
  }
  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(State(info.Env())->size));
  }
  Napi::Value DeviceName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), petra::DeviceName(State(info.Env())->device));
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    state_.reset();
    Release();
    return info.Env().Undefined();
  }
  Napi::Value IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }

  std::shared_ptr<DatasetState> state_;
  int64_t bytes_ = 0;
};

Napi::Value CreateDataset(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsObject()) Fail(ErrorCode::Config, "createDataset: expected { inputs, target }");
    Napi::Object source = info[0].As<Napi::Object>();
    const torch::Device device = ParseDevice(info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "cpu");
    auto state = std::make_shared<DatasetState>();
    state->device = device;
    Napi::Value inputs = source.Get("inputs");
    if (!inputs.IsArray() || inputs.As<Napi::Array>().Length() == 0)
      Fail(ErrorCode::Config, "createDataset: inputs must be a non-empty array");
    Napi::Array array = inputs.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      torch::Tensor t = TensorFromJs(array.Get(i), "inputs[" + std::to_string(i) + "]");
      if (t.dim() < 1) Fail(ErrorCode::Shape, "inputs[" + std::to_string(i) + "]: needs a sample dimension");
      state->inputs.push_back(device.is_cpu() ? t : t.to(device));
    }
    state->size = state->inputs[0].size(0);
    for (size_t i = 1; i < state->inputs.size(); ++i) {
      if (state->inputs[i].size(0) != state->size) Fail(ErrorCode::Shape, "inputs disagree on the number of samples");
    }
    torch::Tensor target = TensorFromJs(source.Get("target"), "target");
    if (target.dim() < 1 || target.size(0) != state->size) {
      Fail(ErrorCode::Shape, "target has " + std::to_string(target.dim() ? target.size(0) : 0) + " rows, inputs have " +
                                 std::to_string(state->size));
    }
    state->target = device.is_cpu() ? target : target.to(device);
    Napi::Object object = Data(info.Env()).datasetConstructor.New({});
    Dataset::Unwrap(object)->Attach(state);
    return object;
  });
}

}  // namespace

std::shared_ptr<DatasetState> UnwrapDataset(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).datasetConstructor.Value())) {
    Fail(ErrorCode::Config, "expected a petra dataset");
  }
  return Dataset::Unwrap(value.As<Napi::Object>())->State(env);
}

void InitDataset(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Dataset::Define(env);
  Data(env).datasetConstructor = Napi::Persistent(ctor);
  exports.Set("NativeDataset", ctor);
  exports.Set("createDataset", Napi::Function::New<CreateDataset>(env, "createDataset"));
}

}  // namespace petra
