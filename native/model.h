// The JS-facing model object: a GraphModule plus the spec it came from, shared with workers by shared_ptr
// so that dispose() on the JS side never frees memory a running worker still uses.
#pragma once

#include <mutex>

#include "common.h"
#include "graph_module.h"

namespace petra {

struct ModelState {
  GraphModule module{nullptr};
  GraphSpec spec;
  std::string specJson;  // what save() writes, so a file reloads into the same graph
  torch::Device device{torch::kCPU};
  std::mutex mutex;  // one native operation on a model at a time (train, forward, save...)
};

struct DatasetState {
  std::vector<torch::Tensor> inputs;  // each [N, ...]
  torch::Tensor target;               // [N] int64 or [N, k] float32
  torch::Device device{torch::kCPU};
  int64_t size = 0;
};

GraphSpec GraphSpecFromJs(const Napi::Object& spec);
std::shared_ptr<ModelState> UnwrapModel(const Napi::Value& value);
std::shared_ptr<DatasetState> UnwrapDataset(const Napi::Value& value);
Napi::Object WrapModel(Napi::Env env, std::shared_ptr<ModelState> state);

// Checks that inputs (batch-first) match the spec's declared inputs; fails with a shape or dtype error that
// names the input, the expected per-sample shape and what arrived.
void CheckInputs(const GraphSpec& spec, const std::vector<torch::Tensor>& inputs);
// Checks that a target fits the spec's task (labels in range, regression width).
void CheckTarget(const GraphSpec& spec, const torch::Tensor& target, int64_t samples);

// compress.cc: the mechanism behind lib/compress (see NativeModel in lib/runtime/binding.ts).
std::shared_ptr<ModelState> DeriveModel(ModelState& source, const Napi::Object& spec, const std::string& specJson,
                                        const Napi::Value& recipes);
Napi::Value ExportTensors(Napi::Env env, ModelState& state, const Napi::Value& names);
Napi::Value SingularValues(Napi::Env env, ModelState& state, const Napi::Value& names);
Napi::Value TaylorScores(Napi::Env env, std::shared_ptr<ModelState> state, const Napi::Value& data,
                         const Napi::Value& options);

// Rows [start, start + len) of each tensor, on `device`.
std::vector<torch::Tensor> SliceRows(const std::vector<torch::Tensor>& tensors, int64_t start, int64_t len,
                                     const torch::Device& device);

// Base of the workers that run a model over a dataset (evaluate, Taylor scores, calibration).
class ModelDataWorker : public PromiseWorker {
 protected:
  ModelDataWorker(Napi::Env env, const char* name, std::shared_ptr<ModelState> model,
                  std::shared_ptr<DatasetState> data)
      : PromiseWorker(env, name), model_(std::move(model)), data_(std::move(data)) {}
  // Takes the model's lock and checks that the data fits it (inputs; the target too when `withTarget`).
  std::unique_lock<std::mutex> Begin(bool withTarget) {
    std::unique_lock<std::mutex> lock(model_->mutex);
    CheckInputs(model_->spec, data_->inputs);
    if (withTarget) CheckTarget(model_->spec, data_->target, data_->size);
    return lock;
  }
  std::shared_ptr<ModelState> model_;
  std::shared_ptr<DatasetState> data_;
};

void InitModel(Napi::Env env, Napi::Object exports);
void InitDataset(Napi::Env env, Napi::Object exports);

}  // namespace petra
