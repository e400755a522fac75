// describeTorchScript(path): a TorchScript module (traced or scripted) as plain data for
// lib/interop/torchscript-import.ts, which maps it onto a petra graph spec. Mechanism only: load, freeze (eval mode:
// parameters and attributes become constants, submodule calls are inlined, `self.training` branches fold), then list
// the forward graph's nodes with their inputs, outputs, nested blocks, constant values (weights as float32) and source
// locations. Every decision (which ops map to which petra nodes, what is unsupported) is TypeScript's.
#include <torch/csrc/jit/frontend/source_range.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/ir/scope.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/script.h>

#include <fstream>
#include <sstream>

#include "common.h"

namespace petra {
namespace {

using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

Napi::Value IValueToJs(Napi::Env env, const c10::IValue& v, int depth);

Napi::Value TensorConstant(Napi::Env env, const at::Tensor& t) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("kind", "tensor");
  out.Set("dtype", std::string(c10::toString(t.scalar_type())));
  if (t.is_quantized() || t.is_sparse() || t.is_complex()) {
    // No float32 view of these: the shape and dtype are enough for TypeScript to report the constant as unsupported.
    Napi::Array shape = Napi::Array::New(env, t.dim());
    for (int64_t i = 0; i < t.dim(); ++i)
      shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.size(i))));
    out.Set("shape", shape);
    return out;
  }
  Napi::Object data = TensorToJs(env, t);  // { data: Float32Array | Int32Array, shape }
  out.Set("shape", data.Get("shape"));
  out.Set("data", data.Get("data"));
  return out;
}

Napi::Value ListToJs(Napi::Env env, const c10::List<c10::IValue>& list, int depth) {
  Napi::Array out = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); ++i) out.Set(static_cast<uint32_t>(i), IValueToJs(env, list.get(i), depth + 1));
  return out;
}

// Constants as JSON-like values: numbers, booleans, null, strings, arrays (lists, tuples), tensors as
// { kind: 'tensor', dtype, shape, data }; anything else as { kind: 'other', type }.
Napi::Value IValueToJs(Napi::Env env, const c10::IValue& v, int depth) {
  if (depth > 16) Fail(ErrorCode::Config, "TorchScript constant nested too deeply");
  if (v.isNone()) return env.Null();
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTensor()) return TensorConstant(env, v.toTensor());
  if (v.isDevice()) return Napi::String::New(env, v.toDevice().str());
  if (v.isList()) return ListToJs(env, v.toList(), depth);
  if (v.isTuple()) {
    const auto& elements = v.toTupleRef().elements();
    Napi::Array out = Napi::Array::New(env, elements.size());
    for (size_t i = 0; i < elements.size(); ++i)
      out.Set(static_cast<uint32_t>(i), IValueToJs(env, elements[i], depth + 1));
    return out;
  }
  Napi::Object other = Napi::Object::New(env);
  other.Set("kind", "other");
  other.Set("type", v.type()->str());
  return other;
}

// Where the op came from: the original Python file:line:col when the module was saved with its debug info (the
// default), else the serialized TorchScript code's location.
std::string Location(const Node* node) {
  torch::jit::SourceRange range = node->sourceRange();
  if (auto original = range.findSourceRangeThatGenerated()) range = *original;
  if (auto flc = range.file_line_col()) {
    const std::string& file = std::get<0>(*flc);
    if (!file.empty()) return file + ":" + std::to_string(std::get<1>(*flc)) + ":" + std::to_string(std::get<2>(*flc));
  }
  return "";
}

// The submodule path the op was inlined from ("layer1.conv1"), when the graph keeps it.
std::string ModulePath(const Node* node) {
  std::string path;
  if (auto callstack = node->callstack()) {
    for (const auto& entry : (*callstack)->vec()) {
      const auto& info = std::get<torch::jit::kModuleInstanceInfo>(entry);
      if (!info) continue;
      const std::string name = info->instance_name();
      if (name.empty() || name == "self" || name == "SELF") continue;  // SELF: a method of the same module
      path += (path.empty() ? "" : ".") + name;
    }
  }
  torch::jit::ScopePtr scope = const_cast<Node*>(node)->scope();  // scope() is not const in LibTorch 1.13
  if (path.empty() && scope && !scope->isBlank()) path = scope->namesFromRoot(".");
  return path;
}

Napi::Object ValueToJs(Napi::Env env, const Value* v) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", Napi::Number::New(env, static_cast<double>(v->unique())));
  out.Set("name", v->debugName());
  out.Set("type", v->type()->str());
  return out;
}

Napi::Array BlockNodes(Napi::Env env, const Block* block, int depth);

Napi::Object NodeToJs(Napi::Env env, const Node* node, int depth) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("kind", std::string(node->kind().toQualString()));
  Napi::Array inputs = Napi::Array::New(env, node->inputs().size());
  for (size_t i = 0; i < node->inputs().size(); ++i) {
    inputs.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(node->inputs()[i]->unique())));
  }
  out.Set("inputs", inputs);
  Napi::Array outputs = Napi::Array::New(env, node->outputs().size());
  for (size_t i = 0; i < node->outputs().size(); ++i)
    outputs.Set(static_cast<uint32_t>(i), ValueToJs(env, node->outputs()[i]));
  out.Set("outputs", outputs);
  out.Set("location", Location(node));
  const std::string module = ModulePath(node);
  if (!module.empty()) out.Set("module", module);
  if (node->kind() == c10::prim::Constant && node->outputs().size() == 1) {
    auto value = torch::jit::toIValue(node->output());
    if (value)
      out.Set("value", IValueToJs(env, *value, 0));
    else
      out.Set("value", env.Null());
  }
  if (!node->blocks().empty()) {
    Napi::Array blocks = Napi::Array::New(env, node->blocks().size());
    for (size_t b = 0; b < node->blocks().size(); ++b) {
      const Block* block = node->blocks()[b];
      Napi::Object o = Napi::Object::New(env);
      Napi::Array params = Napi::Array::New(env, block->inputs().size());
      for (size_t i = 0; i < block->inputs().size(); ++i)
        params.Set(static_cast<uint32_t>(i), ValueToJs(env, block->inputs()[i]));
      o.Set("inputs", params);
      Napi::Array results = Napi::Array::New(env, block->outputs().size());
      for (size_t i = 0; i < block->outputs().size(); ++i) {
        results.Set(static_cast<uint32_t>(i),
                    Napi::Number::New(env, static_cast<double>(block->outputs()[i]->unique())));
      }
      o.Set("outputs", results);
      o.Set("nodes", BlockNodes(env, block, depth + 1));
      blocks.Set(static_cast<uint32_t>(b), o);
    }
    out.Set("blocks", blocks);
  }
  return out;
}

Napi::Array BlockNodes(Napi::Env env, const Block* block, int depth) {
  if (depth > 64) Fail(ErrorCode::Config, "TorchScript graph nested too deeply");
  Napi::Array nodes = Napi::Array::New(env);
  uint32_t i = 0;
  for (const Node* node : block->nodes()) nodes.Set(i++, NodeToJs(env, node, depth));
  return nodes;
}

Napi::Value DescribeTorchScript(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) Fail(ErrorCode::Config, "describeTorchScript: a path is required");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    if (!std::ifstream(path).good()) Fail(ErrorCode::Data, "cannot read TorchScript file '" + path + "': no such file");
    torch::jit::Module module;
    try {
      module = torch::jit::load(path, torch::Device(torch::kCPU));
    } catch (const c10::Error& e) {
      Fail(ErrorCode::Data, "'" + path + "' is not a TorchScript model: " + CleanTorchMessage(e));
    } catch (const std::exception& e) {
      Fail(ErrorCode::Data, "'" + path + "' is not a TorchScript model: " + e.what());
    }
    if (!module.find_method("forward")) Fail(ErrorCode::Config, "'" + path + "' has no forward method");
    module.eval();
    torch::jit::Module frozen;
    try {
      frozen = torch::jit::freeze_module(module);
    } catch (const c10::Error& e) {
      Fail(ErrorCode::Config, "'" + path +
                                  "' cannot be frozen for import (its forward mutates module attributes or calls "
                                  "interfaces): " +
                                  CleanTorchMessage(e));
    } catch (const std::exception& e) {
      Fail(ErrorCode::Config, "'" + path + "' cannot be frozen for import: " + std::string(e.what()));
    }
    std::shared_ptr<torch::jit::Graph> graph = frozen.get_method("forward").graph();
    Napi::Object out = Napi::Object::New(env);
    Napi::Array inputs = Napi::Array::New(env);
    uint32_t k = 0;
    for (const Value* v : graph->inputs()) {
      if (v->type()->kind() == c10::TypeKind::ClassType) continue;  // `self`, unused once frozen
      inputs.Set(k++, ValueToJs(env, v));
    }
    out.Set("inputs", inputs);
    Napi::Array outputs = Napi::Array::New(env, graph->outputs().size());
    for (size_t i = 0; i < graph->outputs().size(); ++i) {
      outputs.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(graph->outputs()[i]->unique())));
    }
    out.Set("outputs", outputs);
    out.Set("nodes", BlockNodes(env, graph->block(), 0));
    return out;
  });
}

}  // namespace

void InitTorchScriptImport(Napi::Env env, Napi::Object exports) {
  exports.Set("describeTorchScript", Napi::Function::New<DescribeTorchScript>(env, "describeTorchScript"));
}

}  // namespace petra
