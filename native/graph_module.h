// A torch::nn::Module built from petra's JSON graph spec (lib/graph/types.ts). No N-API here: this is the
// mechanism that training, compression and measurement all share.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace petra {

struct Attr {
  std::vector<double> numbers;  // a scalar is a one-element list
  std::string text;
  bool isText = false;
};

struct NodeSpec {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;
  std::map<std::string, Attr> attrs;
};

struct InputSpec {
  std::string name;
  std::vector<int64_t> shape;  // per sample
  bool isInt64 = false;
};

struct GraphSpec {
  std::vector<InputSpec> inputs;
  std::vector<NodeSpec> nodes;
  std::string output;
  bool classification = true;
  int64_t outputWidth = 1;  // classes or regression targets
};

// W = U·diag(S)·Vh as three trainable parameters (see lib/graph/types.ts, lowrank_*). Conv variants run Vh as a
// conv with `rank` output channels, scale by S, then a 1×1 conv with U.
class LowrankImpl : public torch::nn::Module {
 public:
  enum class Kind { Linear, Conv1d, Conv2d };
  LowrankImpl(Kind kind, int64_t in, int64_t out, int64_t rank, std::vector<int64_t> kernel,
              std::vector<int64_t> stride, std::vector<int64_t> padding, bool samePadding,
              std::vector<int64_t> dilation, bool bias);
  torch::Tensor forward(const torch::Tensor& x);

  Kind kind;
  int64_t in, out, rank;
  std::vector<int64_t> kernel, stride, padding, dilation;
  bool samePadding;
  torch::Tensor U, S, Vh, bias;
};
TORCH_MODULE(Lowrank);

class GraphModuleImpl : public torch::nn::Module {
 public:
  explicit GraphModuleImpl(const GraphSpec& spec);

  torch::Tensor forward(const std::vector<torch::Tensor>& inputs);

  // Calls `observe(valueName, tensor)` for every graph input and node output (calibration of int8 ranges).
  using ValueObserver = std::function<void(const std::string&, const torch::Tensor&)>;
  torch::Tensor ForwardObserved(const std::vector<torch::Tensor>& inputs, const ValueObserver& observe);

  // Packs the int8 weights of q* nodes for the quantized engine; needed after build, load and derive.
  void PrepareQuantized();
  bool HasQuantizedNodes() const { return !quantized_.empty() || !quantizedGru_.empty(); }

  const GraphSpec& spec() const { return spec_; }

  // Dropout masks come from the model's own generator, not LibTorch's process-global one, so concurrent
  // trainings in one process cannot perturb each other's runs. Reseeded by the trainer each epoch.
  void SeedDropout(uint64_t seed);

  // The factorized layers, for the orthogonality and Hoyer regularizers.
  const std::vector<std::shared_ptr<LowrankImpl>>& LowrankLayers() const { return lowrank_; }
  int64_t ParameterCount() const;

  // The submodule registered for a node, or nullptr for parameter-free ops.
  std::shared_ptr<torch::nn::Module> NodeModule(const std::string& name) const;

 private:
  using NodeFn = std::function<torch::Tensor(std::vector<torch::Tensor>&)>;
  struct Step {
    std::string name;
    NodeFn fn;
    bool acceptsQuantized = false;     // else quantized inputs are dequantized first
    std::vector<size_t> args;          // indices into the value table (graph inputs first, then nodes)
    std::vector<size_t> releaseAfter;  // values no later step reads: freed early to save memory
  };
  // The op table (graph_module.cc): one builder per op, each reading its node's attributes and returning its step.
  // A nested struct, so builders reach this module's private state without widening its interface.
  struct Builders;
  NodeFn WithComputeDtype(const NodeSpec& node, NodeFn inner);

  GraphSpec spec_;
  std::vector<Step> steps_;
  size_t outputIndex_ = 0;
  std::map<std::string, std::shared_ptr<torch::nn::Module>> nodeModules_;
  at::Generator dropoutGenerator_;
  bool usesQnnpack_ = false;  // an int8 node of engine qnnpack: forwards take QnnpackMutex() (compute_thread.h)
  std::vector<std::shared_ptr<LowrankImpl>> lowrank_;
  std::vector<std::shared_ptr<torch::nn::Module>> quantized_;     // QuantLayerImpl (quantize.h)
  std::vector<std::shared_ptr<torch::nn::Module>> quantizedGru_;  // QuantGruImpl
  // QAT: moving min/max of fake-quantized node outputs, by node name.
  std::map<std::string, std::pair<double, double>> qatRanges_;
  torch::Tensor RunSteps(const std::vector<torch::Tensor>& inputs, const ValueObserver* observe);

  // Inference folds each BatchNorm into the convolution that alone feeds it (W·γ/σ, (b − μ)·γ/σ + β), as deployment
  // runtimes do (onnxruntime, torch.jit.freeze): one pass over the activations instead of two. Only when gradients
  // are off, the module is in eval mode and no observer watches (calibration sees the values of the spec's nodes).
  // The folded weights are cached and recomputed when a source tensor moves or is written (training, load, to()).
  struct ConvGeometry {
    std::vector<int64_t> stride, padding, dilation;
    int64_t groups = 1;
    bool same = false, two = false;
  };
  struct ConvBnFold {
    // Handles to the modules' own tensors (load, copy and to() write through them: set_, copy_, set_data).
    torch::Tensor convWeight, convBias, gamma, beta, mean, var;  // convBias may be undefined
    ConvGeometry geometry;
    double eps = 1e-5;
    torch::Tensor weight, bias;                         // folded
    std::vector<std::pair<const void*, int64_t>> seen;  // the sources' data pointers and versions when folded
  };
  std::map<std::string, ConvGeometry> convGeometry_;  // by conv node name, recorded by the builder for PlanFolds
  std::vector<ConvBnFold> folds_;
  std::vector<int> foldOfStep_;  // per step: the fold whose conv it runs (≥ 0), −2 for the folded-away BatchNorm
  std::mutex foldMutex_;
  void PlanFolds();
  torch::Tensor RunFoldedConv(ConvBnFold& fold, const torch::Tensor& x);
  NodeFn FakeQuantOutput(const std::string& name, NodeFn inner);
};
TORCH_MODULE(GraphModule);

// Topological order of spec.nodes (indices); fails with a config error naming a cycle or a missing input.
std::vector<size_t> TopologicalOrder(const GraphSpec& spec);

}  // namespace petra
