#include "model.h"

#include <fstream>

namespace petra {
namespace {

Attr AttrFromJs(const Napi::Value& value, const std::string& where) {
  Attr attr;
  if (value.IsNumber()) {
    attr.numbers.push_back(value.As<Napi::Number>().DoubleValue());
  } else if (value.IsBoolean()) {
    attr.numbers.push_back(value.As<Napi::Boolean>().Value() ? 1 : 0);
  } else if (value.IsString()) {
    attr.isText = true;
    attr.text = value.As<Napi::String>().Utf8Value();
  } else if (value.IsArray()) {
    Napi::Array array = value.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      Napi::Value item = array.Get(i);
      if (!item.IsNumber()) Fail(ErrorCode::Config, where + "[" + std::to_string(i) + "]: a number is required");
      attr.numbers.push_back(item.As<Napi::Number>().DoubleValue());
    }
  } else {
    Fail(ErrorCode::Config, where + ": unsupported attribute value");
  }
  return attr;
}

std::string StringProp(const Napi::Object& object, const char* key, const std::string& where) {
  Napi::Value v = object.Get(key);
  if (!v.IsString()) Fail(ErrorCode::Config, where + "." + key + ": a string is required");
  return v.As<Napi::String>().Utf8Value();
}

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeModel",
        {InstanceMethod<&Model::ParameterCount>("parameterCount"), InstanceMethod<&Model::Parameters>("parameters"),
         InstanceMethod<&Model::DeviceName>("device"), InstanceMethod<&Model::To>("to"),
         InstanceMethod<&Model::Forward>("forward"), InstanceMethod<&Model::Save>("save"),
         InstanceMethod<&Model::LoadWeights>("loadWeights"), InstanceMethod<&Model::Clone>("clone"),
         InstanceMethod<&Model::SpecJson>("specJson"), InstanceMethod<&Model::Dispose>("dispose"),
         InstanceMethod<&Model::IsDisposed>("isDisposed"), InstanceMethod<&Model::Derive>("derive"),
         InstanceMethod<&Model::Tensors>("tensors"), InstanceMethod<&Model::Taylor>("taylorScores"),
         InstanceMethod<&Model::Singular>("singularValues")});
  }
  explicit Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {}
  ~Model() override { ReleaseExternal(); }

  void Attach(std::shared_ptr<ModelState> state) {
    state_ = std::move(state);
    externalBytes_ = 0;
    for (const auto& p : state_->module->parameters())
      externalBytes_ += p.numel() * static_cast<int64_t>(p.element_size());
    Napi::MemoryManagement::AdjustExternalMemory(Env(), externalBytes_);
  }
  std::shared_ptr<ModelState> State(Napi::Env env) {
    if (!state_) throw MakeError(env, {ErrorCode::Disposed, "model was disposed and can no longer be used"});
    return state_;
  }

 private:
  void ReleaseExternal() {
    if (externalBytes_ != 0) {
      Napi::MemoryManagement::AdjustExternalMemory(Env(), -externalBytes_);
      externalBytes_ = 0;
    }
  }
  Napi::Value ParameterCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(State(info.Env())->module->ParameterCount()));
  }
  Napi::Value Parameters(const Napi::CallbackInfo& info) {
    auto state = State(info.Env());
    std::lock_guard<std::mutex> lock(state->mutex);
    Napi::Array out = Napi::Array::New(info.Env());
    uint32_t i = 0;
    auto describe = [&](const std::string& name, const torch::Tensor& t, bool buffer) {
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("name", name);
      Napi::Array shape = Napi::Array::New(info.Env(), t.dim());
      for (int64_t d = 0; d < t.dim(); ++d)
        shape.Set(static_cast<uint32_t>(d), Napi::Number::New(info.Env(), t.size(d)));
      o.Set("shape", shape);
      o.Set("dtype", std::string(c10::toString(t.scalar_type())));
      o.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(t.numel() * t.element_size())));
      o.Set("buffer", buffer);
      out.Set(i++, o);
    };
    for (const auto& p : state->module->named_parameters()) describe(p.key(), p.value(), false);
    for (const auto& b : state->module->named_buffers()) describe(b.key(), b.value(), true);
    return out;
  }
  Napi::Value DeviceName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), petra::DeviceName(State(info.Env())->device));
  }
  Napi::Value To(const Napi::CallbackInfo& info) {
    auto state = State(info.Env());
    return Guarded(info.Env(), [&]() -> Napi::Value {
      torch::Device device = ParseDevice(info[0].As<Napi::String>().Utf8Value());
      std::lock_guard<std::mutex> lock(state->mutex);
      state->module->to(device);
      state->device = device;
      return info.Env().Undefined();
    });
  }
  Napi::Value SpecJson(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), State(info.Env())->specJson);
  }
  Napi::Value Clone(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value LoadWeights(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    // Idempotent: workers that still hold the state keep it alive until they finish.
    state_.reset();
    ReleaseExternal();
    return info.Env().Undefined();
  }
  Napi::Value IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }
  Napi::Value Derive(const Napi::CallbackInfo& info) {
    auto state = State(info.Env());
    return Guarded(info.Env(), [&]() -> Napi::Value {
      if (!info[0].IsObject()) Fail(ErrorCode::Config, "derive: spec must be an object");
      const std::string json = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
      return WrapModel(info.Env(), DeriveModel(*state, info[0].As<Napi::Object>(), json, info[2]));
    });
  }
  Napi::Value Tensors(const Napi::CallbackInfo& info) {
    auto state = State(info.Env());
    return Guarded(info.Env(), [&]() -> Napi::Value { return ExportTensors(info.Env(), *state, info[0]); });
  }
  Napi::Value Singular(const Napi::CallbackInfo& info) {
    auto state = State(info.Env());
    return Guarded(info.Env(), [&]() -> Napi::Value { return SingularValues(info.Env(), *state, info[0]); });
  }
  Napi::Value Taylor(const Napi::CallbackInfo& info) {
    auto state = State(info.Env());
    return Guarded(info.Env(), [&]() -> Napi::Value { return TaylorScores(info.Env(), state, info[0], info[1]); });
  }

  std::shared_ptr<ModelState> state_;
  int64_t externalBytes_ = 0;
};

torch::Tensor Forward(ModelState& state, const std::vector<torch::Tensor>& inputs, int64_t batchSize) {
  c10::InferenceMode guard;
  state.module->eval();
  const int64_t n = inputs.empty() ? 0 : inputs[0].size(0);
  std::vector<torch::Tensor> outs;
  for (int64_t start = 0; start < n; start += batchSize) {
    const int64_t len = std::min(batchSize, n - start);
    outs.push_back(state.module->forward(SliceRows(inputs, start, len, state.device)));
  }
  if (outs.empty()) Fail(ErrorCode::Data, "forward: no samples");
  return outs.size() == 1 ? outs[0] : torch::cat(outs, 0);
}

class ForwardWorker : public PromiseWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<ModelState> state, std::vector<torch::Tensor> inputs, int64_t batchSize)
      : PromiseWorker(env, "petra.forward"),
        state_(std::move(state)),
        inputs_(std::move(inputs)),
        batchSize_(batchSize) {}

 protected:
  void Run() override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    CheckInputs(state_->spec, inputs_);
    output_ = petra::Forward(*state_, inputs_, batchSize_).to(torch::kCPU);
  }
  Napi::Value Resolve(Napi::Env env) override { return TensorToJs(env, output_); }

 private:
  std::shared_ptr<ModelState> state_;
  std::vector<torch::Tensor> inputs_;
  int64_t batchSize_;
  torch::Tensor output_;
};

Napi::Value Model::Forward(const Napi::CallbackInfo& info) {
  auto state = State(info.Env());
  return Guarded(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsArray()) Fail(ErrorCode::Config, "forward: inputs must be an array of { data, shape }");
    Napi::Array array = info[0].As<Napi::Array>();
    std::vector<torch::Tensor> inputs;
    for (uint32_t i = 0; i < array.Length(); ++i)
      inputs.push_back(TensorFromJs(array.Get(i), "inputs[" + std::to_string(i) + "]"));
    int64_t batchSize = 256;
    if (info.Length() > 1 && info[1].IsNumber())
      batchSize = std::max<int64_t>(1, info[1].As<Napi::Number>().Int64Value());
    return (new ForwardWorker(info.Env(), state, std::move(inputs), batchSize))->Queue();
  });
}

class SaveWorker : public PromiseWorker {
 public:
  SaveWorker(Napi::Env env, std::shared_ptr<ModelState> state, std::string path)
      : PromiseWorker(env, "petra.save"), state_(std::move(state)), path_(std::move(path)) {}

 protected:
  void Run() override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    torch::serialize::OutputArchive archive;
    state_->module->save(archive);
    archive.write("petra_spec", c10::IValue(state_->specJson));
    try {
      archive.save_to(path_);
    } catch (const c10::Error& e) {
      Fail(ErrorCode::Data, "cannot write '" + path_ + "': " + CleanTorchMessage(e));
    }
  }
  Napi::Value Resolve(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<ModelState> state_;
  std::string path_;
};

Napi::Value Model::Save(const Napi::CallbackInfo& info) {
  auto state = State(info.Env());
  return (new SaveWorker(info.Env(), state, info[0].As<Napi::String>().Utf8Value()))->Queue();
}

torch::serialize::InputArchive OpenArchive(const std::string& path, const torch::Device& device) {
  if (!std::ifstream(path).good()) Fail(ErrorCode::Data, "cannot read model file '" + path + "': no such file");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, device);
  } catch (const c10::Error& e) {
    Fail(ErrorCode::Data, "'" + path + "' is not a petra model file: " + CleanTorchMessage(e));
  }
  return archive;
}

class LoadWeightsWorker : public PromiseWorker {
 public:
  LoadWeightsWorker(Napi::Env env, std::shared_ptr<ModelState> state, std::string path)
      : PromiseWorker(env, "petra.loadWeights"), state_(std::move(state)), path_(std::move(path)) {}

 protected:
  void Run() override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto archive = OpenArchive(path_, state_->device);
    try {
      state_->module->load(archive);
      state_->module->PrepareQuantized();
    } catch (const c10::Error& e) {
      Fail(ErrorCode::Data, "'" + path_ + "' does not fit this model: " + CleanTorchMessage(e));
    }
  }
  Napi::Value Resolve(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<ModelState> state_;
  std::string path_;
};

Napi::Value Model::LoadWeights(const Napi::CallbackInfo& info) {
  auto state = State(info.Env());
  return (new LoadWeightsWorker(info.Env(), state, info[0].As<Napi::String>().Utf8Value()))->Queue();
}

std::shared_ptr<ModelState> BuildState(const Napi::Object& spec, const std::string& specJson,
                                       const torch::Device& device, int64_t seed) {
  auto state = std::make_shared<ModelState>();
  state->spec = GraphSpecFromJs(spec);
  state->specJson = specJson;
  if (seed >= 0) torch::manual_seed(static_cast<uint64_t>(seed));
  state->module = GraphModule(state->spec);
  state->module->to(device);
  state->device = device;
  return state;
}

Napi::Value Model::Clone(const Napi::CallbackInfo& info) {
  auto source = State(info.Env());
  return Guarded(info.Env(), [&]() -> Napi::Value {
    std::lock_guard<std::mutex> lock(source->mutex);
    auto state = std::make_shared<ModelState>();
    state->spec = source->spec;
    state->specJson = source->specJson;
    state->device = source->device;
    state->module = GraphModule(state->spec);
    state->module->to(state->device);
    torch::NoGradGuard noGrad;
    auto dst = state->module->named_parameters();
    for (const auto& p : source->module->named_parameters()) dst[p.key()].copy_(p.value());
    auto dstBuffers = state->module->named_buffers();
    for (const auto& b : source->module->named_buffers()) dstBuffers[b.key()].copy_(b.value());
    return WrapModel(info.Env(), state);
  });
}

Napi::Value BuildModel(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsObject()) Fail(ErrorCode::Config, "buildModel: spec must be an object");
    const std::string json = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    const torch::Device device = ParseDevice(info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "cpu");
    const int64_t seed = info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : -1;
    return WrapModel(info.Env(), BuildState(info[0].As<Napi::Object>(), json, device, seed));
  });
}

Napi::Value ReadModelSpec(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    auto archive = OpenArchive(path, torch::Device(torch::kCPU));
    c10::IValue spec;
    if (!archive.try_read("petra_spec", spec) || !spec.isString()) {
      Fail(ErrorCode::Data, "'" + path + "' is not a petra model file: it holds no graph spec");
    }
    return Napi::String::New(info.Env(), spec.toStringRef());
  });
}

}  // namespace

GraphSpec GraphSpecFromJs(const Napi::Object& spec) {
  GraphSpec out;
  Napi::Value inputs = spec.Get("inputs");
  Napi::Value nodes = spec.Get("nodes");
  if (!inputs.IsArray() || !nodes.IsArray()) Fail(ErrorCode::Config, "spec: inputs and nodes must be arrays");
  Napi::Array inArray = inputs.As<Napi::Array>();
  for (uint32_t i = 0; i < inArray.Length(); ++i) {
    const std::string where = "inputs[" + std::to_string(i) + "]";
    Napi::Object o = inArray.Get(i).As<Napi::Object>();
    InputSpec in;
    in.name = StringProp(o, "name", where);
    in.shape = ShapeFromJs(o.Get("shape"), where);
    in.isInt64 = StringProp(o, "dtype", where) == "int64";
    out.inputs.push_back(in);
  }
  Napi::Array nodeArray = nodes.As<Napi::Array>();
  for (uint32_t i = 0; i < nodeArray.Length(); ++i) {
    const std::string where = "nodes[" + std::to_string(i) + "]";
    Napi::Object o = nodeArray.Get(i).As<Napi::Object>();
    NodeSpec node;
    node.name = StringProp(o, "name", where);
    node.op = StringProp(o, "op", where);
    Napi::Value ins = o.Get("inputs");
    if (!ins.IsArray()) Fail(ErrorCode::Config, where + ".inputs: an array is required");
    Napi::Array insArray = ins.As<Napi::Array>();
    for (uint32_t j = 0; j < insArray.Length(); ++j)
      node.inputs.push_back(insArray.Get(j).As<Napi::String>().Utf8Value());
    Napi::Value attrs = o.Get("attrs");
    if (attrs.IsObject()) {
      Napi::Object attrObject = attrs.As<Napi::Object>();
      Napi::Array keys = attrObject.GetPropertyNames();
      for (uint32_t j = 0; j < keys.Length(); ++j) {
        const std::string key = keys.Get(j).As<Napi::String>().Utf8Value();
        Napi::Value v = attrObject.Get(key);
        if (v.IsUndefined()) continue;
        node.attrs[key] = AttrFromJs(v, where + ".attrs." + key);
      }
    }
    out.nodes.push_back(node);
  }
  out.output = StringProp(spec, "output", "spec");
  Napi::Value task = spec.Get("task");
  if (!task.IsObject()) Fail(ErrorCode::Config, "spec.task: required");
  Napi::Object taskObject = task.As<Napi::Object>();
  out.classification = StringProp(taskObject, "kind", "spec.task") == "classification";
  Napi::Value width = taskObject.Get(out.classification ? "classes" : "targets");
  if (!width.IsNumber())
    Fail(ErrorCode::Config, std::string("spec.task.") + (out.classification ? "classes" : "targets") + ": required");
  out.outputWidth = width.As<Napi::Number>().Int64Value();
  return out;
}

std::vector<torch::Tensor> SliceRows(const std::vector<torch::Tensor>& tensors, int64_t start, int64_t len,
                                     const torch::Device& device) {
  std::vector<torch::Tensor> out;
  out.reserve(tensors.size());
  for (const auto& t : tensors) out.push_back(t.narrow(0, start, len).to(device));
  return out;
}

void CheckInputs(const GraphSpec& spec, const std::vector<torch::Tensor>& inputs) {
  if (inputs.size() != spec.inputs.size()) {
    Fail(ErrorCode::Shape,
         "the model takes " + std::to_string(spec.inputs.size()) + " input(s), got " + std::to_string(inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InputSpec& want = spec.inputs[i];
    const torch::Tensor& t = inputs[i];
    const bool isInt = t.scalar_type() == torch::kInt64;
    if (want.isInt64 != isInt) {
      Fail(ErrorCode::Dtype, "input '" + want.name + "' must be " +
                                 (want.isInt64 ? "int64 (an Int32Array of codes)" : "float32 (a Float32Array)") +
                                 ", got " + c10::toString(t.scalar_type()));
    }
    std::vector<int64_t> perSample(t.sizes().begin() + std::min<int64_t>(1, t.dim()), t.sizes().end());
    if (t.dim() < 1 || perSample != want.shape) {
      Fail(ErrorCode::Shape, "input '" + want.name + "' must be [N, " + ShapeString(want.shape).substr(1) +
                                 " per batch, got " + ShapeString(t.sizes()));
    }
  }
}

void CheckTarget(const GraphSpec& spec, const torch::Tensor& target, int64_t samples) {
  if (target.size(0) != samples) {
    Fail(ErrorCode::Shape,
         "target has " + std::to_string(target.size(0)) + " rows but the inputs have " + std::to_string(samples));
  }
  if (spec.classification) {
    if (target.scalar_type() != torch::kInt64 || target.dim() != 1) {
      Fail(ErrorCode::Dtype, "a classification target must be class labels: an Int32Array of shape [N], got " +
                                 std::string(c10::toString(target.scalar_type())) + " " + ShapeString(target.sizes()));
    }
    if (samples > 0) {
      const int64_t lo = target.min().item<int64_t>(), hi = target.max().item<int64_t>();
      if (lo < 0 || hi >= spec.outputWidth) {
        Fail(ErrorCode::Data, "labels must lie in [0, " + std::to_string(spec.outputWidth) + "), found " +
                                  std::to_string(lo) + ".." + std::to_string(hi));
      }
    }
  } else {
    if (target.scalar_type() != torch::kFloat32) Fail(ErrorCode::Dtype, "a regression target must be a Float32Array");
    if (target.dim() != 2 || target.size(1) != spec.outputWidth) {
      Fail(ErrorCode::Shape, "a regression target must be [N, " + std::to_string(spec.outputWidth) + "], got " +
                                 ShapeString(target.sizes()));
    }
  }
}

Napi::Object WrapModel(Napi::Env env, std::shared_ptr<ModelState> state) {
  Napi::Object object = Data(env).modelConstructor.New({});
  Model::Unwrap(object)->Attach(std::move(state));
  return object;
}

std::shared_ptr<ModelState> UnwrapModel(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).modelConstructor.Value())) {
    Fail(ErrorCode::Config, "expected a petra model");
  }
  return Model::Unwrap(value.As<Napi::Object>())->State(env);
}

void InitModel(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Model::Define(env);
  Data(env).modelConstructor = Napi::Persistent(ctor);
  exports.Set("NativeModel", ctor);
  exports.Set("buildModel", Napi::Function::New<BuildModel>(env, "buildModel"));
  exports.Set("readModelSpec", Napi::Function::New<ReadModelSpec>(env, "readModelSpec"));
}

}  // namespace petra
