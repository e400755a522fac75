// saveTorchScript(model, plan): writes a petra model as a TorchScript module that PyTorch (torch.jit.load) and
// LibTorch (torch::jit::load, petra's TorchScriptModel) run without petra. Mechanism only: lib/interop/
// torchscript-export.ts decides everything and sends a plan — the forward method's TorchScript source, one submodule
// per layer with the model tensors it holds (parameters or buffers, by petra name), and the int8 layers' packed
// parameters (made here from the int8 codes, scales and bias, exactly as QuantLayerImpl::Prepare packs them).
// The module is compiled with Module::define, so a generated-source bug surfaces as an error, never a bad file.
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/script.h>

#include <cstdio>
#include <fstream>

#include "model.h"
#include "quantize.h"

namespace petra {
namespace {

// The names the generated source may use: `torch.<op>` (ATen) and `quantized.<op>` (the quantized CPU kernels;
// serialized code spells them `ops.quantized.<op>`). Module::define's default resolver knows only `torch`.
struct ExportResolver : public torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string& name, torch::jit::GraphFunction&,
                                                         const torch::jit::SourceRange&) override {
    if (name == "torch") return std::make_shared<torch::jit::BuiltinModule>("aten");
    if (name == "quantized") return std::make_shared<torch::jit::BuiltinModule>("quantized");
    return nullptr;
  }
  c10::TypePtr resolveType(const std::string&, const torch::jit::SourceRange&) override { return nullptr; }
};

struct TensorPlan {
  std::string name;  // attribute on the submodule
  std::string from;  // petra tensor name (`<node>.<param>`)
  bool parameter = false;
};

struct PackPlan {
  std::string name;
  std::string kind;                 // linear | conv1d | conv2d
  std::string weight, scale, bias;  // petra tensor names: int8 codes, per-channel / per-tensor scales, float bias
  bool perChannel = true;
  std::string engine;
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups = 1;
};

struct SubmodulePlan {
  std::string name;
  std::vector<TensorPlan> tensors;
  std::vector<PackPlan> packs;
};

struct ExportPlan {
  std::string className;
  std::string source;
  std::vector<SubmodulePlan> modules;
  std::string path;
};

std::string Str(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) Fail(ErrorCode::Config, std::string("saveTorchScript: plan field '") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int64_t> IntList(const Napi::Object& o, const char* key) {
  std::vector<int64_t> out;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return out;
  if (!v.IsArray()) Fail(ErrorCode::Config, std::string("saveTorchScript: '") + key + "' must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(ToInt64(a.Get(i).As<Napi::Number>().DoubleValue(), key));
  return out;
}

ExportPlan PlanFromJs(const Napi::Object& o) {
  ExportPlan plan;
  plan.className = Str(o, "className");
  plan.source = Str(o, "source");
  plan.path = Str(o, "path");
  Napi::Value modules = o.Get("modules");
  if (!modules.IsArray()) Fail(ErrorCode::Config, "saveTorchScript: plan.modules must be an array");
  Napi::Array list = modules.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Object m = list.Get(i).As<Napi::Object>();
    SubmodulePlan sub;
    sub.name = Str(m, "name");
    Napi::Array tensors = m.Get("tensors").As<Napi::Array>();
    for (uint32_t k = 0; k < tensors.Length(); ++k) {
      Napi::Object t = tensors.Get(k).As<Napi::Object>();
      sub.tensors.push_back({Str(t, "name"), Str(t, "from"), t.Get("parameter").ToBoolean().Value()});
    }
    Napi::Array packs = m.Get("packs").As<Napi::Array>();
    for (uint32_t k = 0; k < packs.Length(); ++k) {
      Napi::Object p = packs.Get(k).As<Napi::Object>();
      PackPlan pack;
      pack.name = Str(p, "name");
      pack.kind = Str(p, "kind");
      if (pack.kind != "linear" && pack.kind != "conv1d" && pack.kind != "conv2d")
        Fail(ErrorCode::Config, "saveTorchScript: unknown pack kind '" + pack.kind + "'");
      pack.weight = Str(p, "weight");
      pack.scale = Str(p, "scale");
      pack.bias = Str(p, "bias");
      pack.perChannel = p.Get("perChannel").ToBoolean().Value();
      pack.engine = Str(p, "engine");
      pack.stride = IntList(p, "stride");
      pack.padding = IntList(p, "padding");
      pack.dilation = IntList(p, "dilation");
      if (p.Get("groups").IsNumber()) pack.groups = p.Get("groups").As<Napi::Number>().Int64Value();
      sub.packs.push_back(std::move(pack));
    }
    plan.modules.push_back(std::move(sub));
  }
  return plan;
}

// The global quantized engine as it was, restored when the export ends however it ends (packing selects each layer's).
struct EngineRestore {
  c10::QEngine engine = at::globalContext().qEngine();
  ~EngineRestore() { at::globalContext().setQEngine(engine); }
};

PackKind PackKindOf(const std::string& kind) {
  return kind == "linear" ? PackKind::Linear : kind == "conv2d" ? PackKind::Conv2d : PackKind::Conv1d;
}

class SaveTorchScriptWorker : public PromiseWorker {
 public:
  SaveTorchScriptWorker(Napi::Env env, std::shared_ptr<ModelState> model, ExportPlan plan)
      : PromiseWorker(env, "petra.saveTorchScript"), model_(std::move(model)), plan_(std::move(plan)) {}

 protected:
  void Run() override {
    std::lock_guard<std::mutex> lock(model_->mutex);
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& p : model_->module->named_parameters()) tensors[p.key()] = p.value();
    for (const auto& b : model_->module->named_buffers()) tensors[b.key()] = b.value();
    auto tensor = [&](const std::string& name) -> torch::Tensor {
      auto it = tensors.find(name);
      if (it == tensors.end()) Fail(ErrorCode::Config, "saveTorchScript: the model has no tensor '" + name + "'");
      return it->second.detach().to(torch::kCPU).clone();
    };
    EngineRestore restore;
    auto cu = std::make_shared<torch::jit::CompilationUnit>();
    torch::jit::Module root(c10::QualifiedName("__torch__.petra." + plan_.className), cu);
    root.register_attribute("training", c10::BoolType::get(), false);
    try {
      for (const auto& sub : plan_.modules) {
        torch::jit::Module m(c10::QualifiedName("__torch__.petra." + plan_.className + "_" + sub.name), cu);
        m.register_attribute("training", c10::BoolType::get(), false);
        for (const auto& t : sub.tensors) {
          torch::Tensor value = tensor(t.from);
          if (t.parameter)
            m.register_parameter(t.name, value, /*is_buffer=*/false);
          else
            m.register_buffer(t.name, value);
        }
        for (const auto& p : sub.packs) {
          UseQuantizedEngine(p.engine);
          c10::IValue packed = PackInt8(PackKindOf(p.kind), tensor(p.weight), tensor(p.scale), tensor(p.bias),
                                        p.perChannel, p.stride, p.padding, p.dilation, p.groups);
          m.register_attribute(p.name, packed.type(), packed);
        }
        root.register_module(sub.name, m);
      }
      root.define(plan_.source, std::make_shared<ExportResolver>());
    } catch (const c10::Error& e) {
      Fail(ErrorCode::Config,
           "the generated TorchScript did not compile (a petra bug; please report it with the model's spec): " +
               CleanTorchMessage(e));
    } catch (const PetraException&) {
      throw;
    } catch (const std::exception& e) {
      Fail(ErrorCode::Config,
           std::string(
               "the generated TorchScript did not compile (a petra bug; please report it with the model's spec): ") +
               e.what());
    }
    // Written beside the target and renamed, so a failed write never leaves a truncated model where one is expected.
    const std::string partial = plan_.path + ".partial";
    try {
      // The spec rides along as an extra file (PyTorch ignores it): petra bench reads the inputs' shapes from it.
      root.save(partial, torch::jit::ExtraFilesMap{{"petra/spec.json", model_->specJson}});
    } catch (const c10::Error& e) {
      std::remove(partial.c_str());
      Fail(ErrorCode::Data, "cannot write '" + plan_.path + "': " + CleanTorchMessage(e));
    }
    if (std::rename(partial.c_str(), plan_.path.c_str()) != 0) {
      std::remove(partial.c_str());
      Fail(ErrorCode::Data, "cannot write '" + plan_.path + "': rename failed");
    }
    std::ifstream written(plan_.path, std::ios::binary | std::ios::ate);
    bytes_ = static_cast<double>(written.tellg());
  }

  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("bytes", Napi::Number::New(env, bytes_));
    return out;
  }

 private:
  std::shared_ptr<ModelState> model_;
  ExportPlan plan_;
  double bytes_ = 0;
};

Napi::Value SaveTorchScript(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    auto model = UnwrapModel(info[0]);
    if (!info[1].IsObject()) Fail(ErrorCode::Config, "saveTorchScript: a plan object is required");
    ExportPlan plan = PlanFromJs(info[1].As<Napi::Object>());
    return (new SaveTorchScriptWorker(info.Env(), model, std::move(plan)))->Queue();
  });
}

}  // namespace

void InitTorchScriptExport(Napi::Env env, Napi::Object exports) {
  exports.Set("saveTorchScript", Napi::Function::New<SaveTorchScript>(env, "saveTorchScript"));
}

}  // namespace petra
