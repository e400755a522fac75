// Mechanism behind the compression operators: deriving a new model from an old one tensor by tensor (copy,
// slice, SVD factor, explicit values), exporting tensors, Taylor importance and singular values. lib/compress/
// decides what to cut; this file only moves numbers.
#include <ATen/CPUGeneratorImpl.h>

#include <cstring>
#include <map>

#include "model.h"
#include "quantize.h"

namespace petra {
namespace {

struct Recipe {
  std::string source;
  std::vector<std::pair<int64_t, torch::Tensor>> slices;
  torch::Tensor data;
  std::string svdSource, svdPart;
  int64_t svdRank = 0;
  std::string quantSource, quantPart;
  bool quantPerChannel = true;
  int quantBits = 8;
};

Recipe RecipeFromJs(const Napi::Value& value, const std::string& name) {
  if (!value.IsObject()) Fail(ErrorCode::Config, "recipe for '" + name + "' must be an object");
  Napi::Object o = value.As<Napi::Object>();
  Recipe r;
  if (o.Get("source").IsString()) r.source = o.Get("source").As<Napi::String>().Utf8Value();
  Napi::Value slices = o.Get("slices");
  if (slices.IsArray()) {
    Napi::Array a = slices.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Object s = a.Get(i).As<Napi::Object>();
      Napi::Value index = s.Get("index");
      if (!index.IsTypedArray() || index.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
        Fail(ErrorCode::Config,
             "recipe for '" + name + "': slices[" + std::to_string(i) + "].index must be an Int32Array");
      }
      Napi::Int32Array idx = index.As<Napi::Int32Array>();
      torch::Tensor t =
          torch::from_blob(idx.Data(), {static_cast<int64_t>(idx.ElementLength())}, torch::kInt32).to(torch::kInt64);
      r.slices.emplace_back(s.Get("dim").As<Napi::Number>().Int64Value(), t);
    }
  }
  if (o.Get("data").IsObject()) r.data = TensorFromJs(o.Get("data"), "recipe '" + name + "'.data");
  if (o.Get("svd").IsObject()) {
    Napi::Object s = o.Get("svd").As<Napi::Object>();
    r.svdSource = s.Get("source").As<Napi::String>().Utf8Value();
    r.svdPart = s.Get("part").As<Napi::String>().Utf8Value();
    r.svdRank = s.Get("rank").As<Napi::Number>().Int64Value();
    if (r.svdPart != "U" && r.svdPart != "S" && r.svdPart != "Vh")
      Fail(ErrorCode::Config, "recipe for '" + name + "': svd.part must be U, S or Vh");
  }
  if (o.Get("quantize").IsObject()) {
    Napi::Object q = o.Get("quantize").As<Napi::Object>();
    r.quantSource = q.Get("source").As<Napi::String>().Utf8Value();
    r.quantPart = q.Get("part").As<Napi::String>().Utf8Value();
    r.quantPerChannel = !q.Get("perChannel").IsBoolean() || q.Get("perChannel").As<Napi::Boolean>().Value();
    if (q.Get("bits").IsNumber()) r.quantBits = q.Get("bits").As<Napi::Number>().Int32Value();
    if (r.quantBits != 7 && r.quantBits != 8)
      Fail(ErrorCode::Config, "recipe for '" + name + "': quantize.bits must be 7 or 8");
    if (r.quantPart != "int8" && r.quantPart != "scale")
      Fail(ErrorCode::Config, "recipe for '" + name + "': quantize.part must be int8 or scale");
  }
  const int kinds = !r.source.empty() + r.data.defined() + !r.svdSource.empty() + !r.quantSource.empty();
  if (kinds != 1) Fail(ErrorCode::Config, "recipe for '" + name + "' needs exactly one of source, data, svd, quantize");
  return r;
}

std::map<std::string, torch::Tensor> NamedTensors(GraphModuleImpl& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : module.named_parameters()) out[p.key()] = p.value();
  for (const auto& b : module.named_buffers()) out[b.key()] = b.value();
  return out;
}

torch::Tensor Lookup(const std::map<std::string, torch::Tensor>& tensors, const std::string& name,
                     const std::string& why) {
  auto it = tensors.find(name);
  if (it == tensors.end()) Fail(ErrorCode::Config, why + ": the source model has no tensor '" + name + "'");
  return it->second;
}

}  // namespace

std::shared_ptr<ModelState> DeriveModel(ModelState& source, const Napi::Object& specJs, const std::string& specJson,
                                        const Napi::Value& recipesJs) {
  std::map<std::string, Recipe> recipes;
  if (recipesJs.IsObject()) {
    Napi::Object o = recipesJs.As<Napi::Object>();
    Napi::Array keys = o.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string name = keys.Get(i).As<Napi::String>().Utf8Value();
      recipes[name] = RecipeFromJs(o.Get(name), name);
    }
  }
  auto state = std::make_shared<ModelState>();
  state->spec = GraphSpecFromJs(specJs);
  state->specJson = specJson;
  state->device = source.device;
  std::lock_guard<std::mutex> lock(source.mutex);
  state->module = GraphModule(state->spec);
  state->module->to(source.device);
  torch::NoGradGuard noGrad;
  const auto from = NamedTensors(*source.module);
  std::map<std::string, std::tuple<torch::Tensor, torch::Tensor, torch::Tensor>> svdCache;
  for (auto& [name, dst] : NamedTensors(*state->module)) {
    torch::Tensor value;
    auto it = recipes.find(name);
    if (it == recipes.end()) {
      value = Lookup(from, name, "copying '" + name + "'");
    } else {
      const Recipe& r = it->second;
      if (!r.source.empty()) {
        value = Lookup(from, r.source, "recipe for '" + name + "'");
        for (const auto& [dim, index] : r.slices) {
          if (dim < 0 || dim >= value.dim())
            Fail(ErrorCode::Config, "recipe for '" + name + "': slice dim " + std::to_string(dim) + " out of range");
          if (index.numel() > 0 &&
              (index.min().item<int64_t>() < 0 || index.max().item<int64_t>() >= value.size(dim))) {
            Fail(ErrorCode::Config, "recipe for '" + name + "': slice index out of range for dim " +
                                        std::to_string(dim) + " of size " + std::to_string(value.size(dim)));
          }
          value = value.index_select(dim, index.to(value.device()));
        }
      } else if (r.data.defined()) {
        value = r.data;
      } else if (!r.quantSource.empty()) {
        auto [q, scale] =
            QuantizeWeight(Lookup(from, r.quantSource, "recipe for '" + name + "'"), r.quantPerChannel, r.quantBits);
        value = r.quantPart == "int8" ? q : scale;
      } else {
        auto cached = svdCache.find(r.svdSource);
        if (cached == svdCache.end()) {
          torch::Tensor w = Lookup(from, r.svdSource, "recipe for '" + name + "'");
          torch::Tensor w2 = w.reshape({w.size(0), -1}).to(torch::kFloat64);
          auto [u, s, vh] = torch::linalg_svd(w2, false, c10::nullopt);
          cached = svdCache
                       .emplace(r.svdSource,
                                std::make_tuple(u.to(torch::kFloat32), s.to(torch::kFloat32), vh.to(torch::kFloat32)))
                       .first;
        }
        const auto& [u, s, vh] = cached->second;
        if (r.svdRank < 1 || r.svdRank > s.size(0)) {
          Fail(ErrorCode::Config, "recipe for '" + name + "': rank " + std::to_string(r.svdRank) + " outside 1.." +
                                      std::to_string(s.size(0)));
        }
        value = r.svdPart == "U"   ? u.narrow(1, 0, r.svdRank)
                : r.svdPart == "S" ? s.narrow(0, 0, r.svdRank)
                                   : vh.narrow(0, 0, r.svdRank);
      }
    }
    if (value.sizes() != dst.sizes()) {
      if (value.numel() != dst.numel()) {
        Fail(ErrorCode::Shape, "tensor '" + name + "': the new model wants " + ShapeString(dst.sizes()) +
                                   " but the recipe gives " + ShapeString(value.sizes()));
      }
      value = value.reshape(dst.sizes());
    }
    dst.copy_(value);
  }
  state->module->PrepareQuantized();
  return state;
}

Napi::Value ExportTensors(Napi::Env env, ModelState& state, const Napi::Value& names) {
  std::lock_guard<std::mutex> lock(state.mutex);
  const auto all = NamedTensors(*state.module);
  Napi::Object out = Napi::Object::New(env);
  auto put = [&](const std::string& name, const torch::Tensor& t) {
    out.Set(name, TensorToJs(env, t.to(torch::kFloat32)));
  };
  if (names.IsArray()) {
    Napi::Array a = names.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      const std::string name = a.Get(i).As<Napi::String>().Utf8Value();
      put(name, Lookup(all, name, "tensors()"));
    }
  } else {
    for (const auto& [name, t] : all) put(name, t);
  }
  return out;
}

Napi::Value SingularValues(Napi::Env env, ModelState& state, const Napi::Value& names) {
  std::lock_guard<std::mutex> lock(state.mutex);
  const auto all = NamedTensors(*state.module);
  Napi::Object out = Napi::Object::New(env);
  if (!names.IsArray()) Fail(ErrorCode::Config, "singularValues: names must be an array");
  Napi::Array a = names.As<Napi::Array>();
  torch::NoGradGuard noGrad;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    const std::string name = a.Get(i).As<Napi::String>().Utf8Value();
    torch::Tensor w = Lookup(all, name, "singularValues()");
    torch::Tensor s = torch::linalg_svdvals(w.reshape({w.size(0), -1}).to(torch::kFloat64))
                          .to(torch::kFloat32)
                          .to(torch::kCPU)
                          .contiguous();
    Napi::Float32Array arr = Napi::Float32Array::New(env, static_cast<size_t>(s.numel()));
    std::memcpy(arr.Data(), s.data_ptr<float>(), static_cast<size_t>(s.numel()) * sizeof(float));
    out.Set(name, arr);
  }
  return out;
}

namespace {

class TaylorWorker : public ModelDataWorker {
 public:
  TaylorWorker(Napi::Env env, std::shared_ptr<ModelState> model, std::shared_ptr<DatasetState> data, int64_t batches,
               int64_t batchSize, uint64_t seed)
      : ModelDataWorker(env, "petra.taylorScores", std::move(model), std::move(data)),
        batches_(batches),
        batchSize_(batchSize),
        seed_(seed) {}

 protected:
  void Run() override {
    auto lock = Begin(/*withTarget=*/true);
    ModelState& model = *model_;
    // Eval mode: scoring must not move BatchNorm statistics or draw dropout masks — the model stays untouched.
    const bool wasTraining = model.module->is_training();
    model.module->eval();
    auto params = model.module->named_parameters();
    for (const auto& p : params) scores_[p.key()] = torch::zeros_like(p.value());
    auto gen = at::detail::createCPUGenerator(seed_);
    torch::Tensor order =
        torch::randperm(data_->size, gen, torch::TensorOptions().dtype(torch::kInt64)).to(data_->device);
    const int64_t available = (data_->size + batchSize_ - 1) / batchSize_;
    for (int64_t b = 0; b < std::min(batches_, available); ++b) {
      const int64_t start = b * batchSize_;
      torch::Tensor idx = order.narrow(0, start, std::min(batchSize_, data_->size - start));
      std::vector<torch::Tensor> inputs;
      for (const auto& t : data_->inputs) inputs.push_back(t.index_select(0, idx).to(model.device));
      torch::Tensor target = data_->target.index_select(0, idx).to(model.device);
      model.module->zero_grad();
      torch::Tensor out = model.module->forward(inputs);
      torch::Tensor loss =
          model.spec.classification ? torch::nn::functional::cross_entropy(out, target) : torch::mse_loss(out, target);
      loss.backward();
      torch::NoGradGuard noGrad;
      for (const auto& p : params) {
        if (p.value().grad().defined()) scores_[p.key()] += (p.value() * p.value().grad()).abs();
      }
    }
    for (auto& p : params) p.value().mutable_grad() = torch::Tensor();
    model.module->train(wasTraining);
  }
  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    for (const auto& [name, t] : scores_) out.Set(name, TensorToJs(env, t));
    return out;
  }

 private:
  int64_t batches_, batchSize_;
  uint64_t seed_;
  std::map<std::string, torch::Tensor> scores_;
};

}  // namespace

Napi::Value TaylorScores(Napi::Env env, std::shared_ptr<ModelState> state, const Napi::Value& dataJs,
                         const Napi::Value& optionsJs) {
  auto data = UnwrapDataset(dataJs);
  int64_t batches = 8, batchSize = 64;
  uint64_t seed = 0;
  if (optionsJs.IsObject()) {
    Napi::Object o = optionsJs.As<Napi::Object>();
    if (o.Get("batches").IsNumber()) batches = o.Get("batches").As<Napi::Number>().Int64Value();
    if (o.Get("batchSize").IsNumber()) batchSize = o.Get("batchSize").As<Napi::Number>().Int64Value();
    if (o.Get("seed").IsNumber()) seed = static_cast<uint64_t>(o.Get("seed").As<Napi::Number>().Int64Value());
  }
  if (batches < 1 || batchSize < 1) Fail(ErrorCode::Config, "taylorScores: batches and batchSize must be positive");
  return (new TaylorWorker(env, std::move(state), data, batches, batchSize, seed))->Queue();
}

}  // namespace petra
