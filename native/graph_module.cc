#include "graph_module.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <unordered_map>

#include "common.h"
#include "inference_linear.h"
#include "quantize.h"

namespace petra {
namespace {

const Attr* FindAttr(const NodeSpec& node, const std::string& key) {
  auto it = node.attrs.find(key);
  return it == node.attrs.end() ? nullptr : &it->second;
}

std::string Where(const NodeSpec& node, const std::string& key) { return "node '" + node.name + "' attrs." + key; }

double Num(const NodeSpec& node, const std::string& key) {
  const Attr* a = FindAttr(node, key);
  if (a == nullptr || a->isText || a->numbers.size() != 1)
    Fail(ErrorCode::Config, Where(node, key) + ": a number is required");
  return a->numbers[0];
}
double Num(const NodeSpec& node, const std::string& key, double fallback) {
  return FindAttr(node, key) == nullptr ? fallback : Num(node, key);
}
int64_t Int(const NodeSpec& node, const std::string& key) {
  const double v = Num(node, key);
  const int64_t i = ToInt64(v, Where(node, key));  // NaN / out of range: a ConfigError, not an undefined cast
  if (v != static_cast<double>(i)) Fail(ErrorCode::Config, Where(node, key) + ": an integer is required");
  return i;
}
int64_t Int(const NodeSpec& node, const std::string& key, int64_t fallback) {
  return FindAttr(node, key) == nullptr ? fallback : Int(node, key);
}
bool Bool(const NodeSpec& node, const std::string& key, bool fallback) {
  return FindAttr(node, key) == nullptr ? fallback : Num(node, key) != 0;
}
// An int or a list of n ints (kernel sizes, strides).
std::vector<int64_t> Ints(const NodeSpec& node, const std::string& key, size_t n) {
  const Attr* a = FindAttr(node, key);
  if (a == nullptr || a->isText || a->numbers.empty()) Fail(ErrorCode::Config, Where(node, key) + ": required");
  std::vector<int64_t> out;
  for (double v : a->numbers) out.push_back(ToInt64(v, Where(node, key)));  // a plain cast is UB for NaN / 1e20
  if (out.size() == 1) out.assign(n, out[0]);
  if (out.size() != n) Fail(ErrorCode::Config, Where(node, key) + ": expected " + std::to_string(n) + " values");
  return out;
}
std::vector<int64_t> Ints(const NodeSpec& node, const std::string& key, size_t n, std::vector<int64_t> fallback) {
  return FindAttr(node, key) == nullptr ? fallback : Ints(node, key, n);
}
bool IsSame(const NodeSpec& node, const std::string& key) {
  const Attr* a = FindAttr(node, key);
  return a != nullptr && a->isText && a->text == "same";
}
std::string Text(const NodeSpec& node, const std::string& key, const std::string& fallback) {
  const Attr* a = FindAttr(node, key);
  if (a == nullptr) return fallback;
  if (!a->isText) Fail(ErrorCode::Config, Where(node, key) + ": a string is required");
  return a->text;
}

template <size_t D>
torch::ExpandingArray<D> Expand(const std::vector<int64_t>& v) {
  return torch::ExpandingArray<D>(at::IntArrayRef(v));
}

}  // namespace

LowrankImpl::LowrankImpl(Kind kind_, int64_t in_, int64_t out_, int64_t rank_, std::vector<int64_t> kernel_,
                         std::vector<int64_t> stride_, std::vector<int64_t> padding_, bool same_,
                         std::vector<int64_t> dilation_, bool hasBias)
    : kind(kind_),
      in(in_),
      out(out_),
      rank(rank_),
      kernel(std::move(kernel_)),
      stride(std::move(stride_)),
      padding(std::move(padding_)),
      dilation(std::move(dilation_)),
      samePadding(same_) {
  int64_t fanIn = in;
  for (int64_t k : kernel) fanIn *= k;
  // Initialized as the SVD of a default (Kaiming-uniform) layer, so a freshly built factorized net trains like the
  // dense one.
  torch::Tensor w = torch::empty({out, fanIn});
  torch::nn::init::kaiming_uniform_(w, std::sqrt(5.0));
  auto [u, sv, vh] = torch::linalg_svd(w, false, c10::nullopt);
  const int64_t r = std::min<int64_t>(rank, sv.size(0));
  torch::Tensor U0 = torch::zeros({out, rank}), S0 = torch::zeros({rank}), Vh0 = torch::zeros({rank, fanIn});
  U0.narrow(1, 0, r).copy_(u.narrow(1, 0, r));
  S0.narrow(0, 0, r).copy_(sv.narrow(0, 0, r));
  Vh0.narrow(0, 0, r).copy_(vh.narrow(0, 0, r));
  U = register_parameter("U", U0);
  S = register_parameter("S", S0);
  Vh = register_parameter("Vh", Vh0);
  if (hasBias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fanIn));
    bias = register_parameter("bias", torch::empty({out}).uniform_(-bound, bound));
  }
}

torch::Tensor LowrankImpl::forward(const torch::Tensor& x) {
  const c10::optional<torch::Tensor> noBias;
  const c10::optional<torch::Tensor> b = bias.defined() ? c10::optional<torch::Tensor>(bias) : c10::nullopt;
  if (kind == Kind::Linear)
    return InferenceLinear(InferenceLinear(x, Vh, torch::Tensor()) * S, U, b.value_or(torch::Tensor()));
  std::vector<int64_t> kshape{rank, in};
  kshape.insert(kshape.end(), kernel.begin(), kernel.end());
  torch::Tensor kv = Vh.view(kshape);
  if (kind == Kind::Conv2d) {
    torch::Tensor h = samePadding ? at::conv2d(x, kv, noBias, stride, "same", dilation)
                                  : at::conv2d(x, kv, noBias, stride, padding, dilation);
    return at::conv2d(h * S.view({1, rank, 1, 1}), U.view({out, rank, 1, 1}), b);
  }
  torch::Tensor h = samePadding ? at::conv1d(x, kv, noBias, stride, "same", dilation)
                                : at::conv1d(x, kv, noBias, stride, padding, dilation);
  return at::conv1d(h * S.view({1, rank, 1}), U.view({out, rank, 1}), b);
}

std::vector<size_t> TopologicalOrder(const GraphSpec& spec) {
  std::map<std::string, size_t> index;
  std::set<std::string> inputNames;
  for (const auto& in : spec.inputs) inputNames.insert(in.name);
  for (size_t i = 0; i < spec.nodes.size(); ++i) {
    if (!index.emplace(spec.nodes[i].name, i).second)
      Fail(ErrorCode::Config, "duplicate node name '" + spec.nodes[i].name + "'");
    if (inputNames.count(spec.nodes[i].name))
      Fail(ErrorCode::Config, "node '" + spec.nodes[i].name + "' has an input's name");
  }
  std::vector<int> pending(spec.nodes.size(), 0);
  std::vector<std::vector<size_t>> users(spec.nodes.size());
  for (size_t i = 0; i < spec.nodes.size(); ++i) {
    for (const auto& src : spec.nodes[i].inputs) {
      if (inputNames.count(src)) continue;
      auto it = index.find(src);
      if (it == index.end())
        Fail(ErrorCode::Config, "node '" + spec.nodes[i].name + "' reads unknown value '" + src + "'");
      pending[i]++;
      users[it->second].push_back(i);
    }
  }
  std::vector<size_t> order, ready;
  for (size_t i = 0; i < spec.nodes.size(); ++i)
    if (pending[i] == 0) ready.push_back(i);
  while (!ready.empty()) {
    size_t i = ready.back();
    ready.pop_back();
    order.push_back(i);
    for (size_t u : users[i])
      if (--pending[u] == 0) ready.push_back(u);
  }
  if (order.size() != spec.nodes.size()) {
    std::string stuck;
    for (size_t i = 0; i < spec.nodes.size(); ++i)
      if (pending[i] > 0) stuck += (stuck.empty() ? "" : ", ") + spec.nodes[i].name;
    Fail(ErrorCode::Config, "the graph has a cycle through: " + stuck);
  }
  return order;
}

// ---------------------------------------------------------------------------------------------------------------
// The op table: one builder per op of the graph language. A builder reads its node's attributes (a ConfigError names
// the attribute), registers the node's submodule and returns its step. lib/graph/ops/ describes the same ops for
// TypeScript (attributes, shapes, channels, lowering to ONNX and TorchScript); adding an op is one descriptor there
// and one builder plus one table row here.
// ---------------------------------------------------------------------------------------------------------------

struct GraphModuleImpl::Builders {
  using Self = GraphModuleImpl;
  struct Op {
    NodeFn (*build)(Self& self, const NodeSpec& node);
    // Whether the step takes int8 (quint8) inputs as they are; else they are dequantized first. It must say what
    // `quantAware` says in lib/graph/ops/ (the ONNX and TorchScript exports and int8-bias.ts follow that). add and
    // concat take int8 inputs when attrs.outScale is set (see the constructor).
    bool takesInt8;
  };

  // The builder of `node.op`; a ConfigError for an op that is not in the table.
  static const Op& Find(const NodeSpec& node);

  static NodeFn Unary(const NodeSpec& node, std::function<torch::Tensor(const torch::Tensor&)> f) {
    if (node.inputs.size() != 1)
      Fail(ErrorCode::Config, "node '" + node.name + "' (" + node.op + ") takes exactly one input");
    return [f](std::vector<torch::Tensor>& a) { return f(a[0]); };
  }
  // Remembers a node's submodule (NodeModule: attrs.dtype, export, derive).
  static void Keep(Self& self, const NodeSpec& node, std::shared_ptr<torch::nn::Module> m) {
    self.nodeModules_[node.name] = m;
  }

  static NodeFn Conv(Self& self, const NodeSpec& node) {
    namespace nn = torch::nn;
    const bool two = node.op == "conv2d";
    const size_t d = two ? 2 : 1;
    auto k = Ints(node, "kernelSize", d);
    auto s = Ints(node, "stride", d, std::vector<int64_t>(d, 1));
    auto dil = Ints(node, "dilation", d, std::vector<int64_t>(d, 1));
    const int64_t in = Int(node, "inChannels"), out = Int(node, "outChannels"), groups = Int(node, "groups", 1);
    const bool bias = Bool(node, "bias", true);
    const bool same = IsSame(node, "padding");
    const bool fakeQuant = Bool(node, "fakeQuant", false);
    const int bits = static_cast<int>(Int(node, "fakeQuantBits", 8));
    const std::vector<int64_t> pad =
        same ? std::vector<int64_t>(d, 0) : Ints(node, "padding", d, std::vector<int64_t>(d, 0));
    self.convGeometry_[node.name] = ConvGeometry{s, pad, dil, groups, same, two};
    if (two) {
      nn::Conv2dOptions o(in, out, Expand<2>(k));
      o.stride(Expand<2>(s)).dilation(Expand<2>(dil)).groups(groups).bias(bias);
      if (same)
        o.padding(torch::kSame);
      else
        o.padding(Expand<2>(pad));
      auto m = self.register_module(node.name, nn::Conv2d(o));
      Keep(self, node, m);
      if (!fakeQuant) return Unary(node, [m](const torch::Tensor& x) { return m->forward(x); });
      return self.FakeQuantOutput(node.name, Unary(node, [m, s, pad, dil, groups, same, bits](const torch::Tensor& x) {
                                    const torch::Tensor w = FakeQuantWeight(m->weight, bits);
                                    const c10::optional<torch::Tensor> b =
                                        m->bias.defined() ? c10::optional<torch::Tensor>(m->bias) : c10::nullopt;
                                    return same ? at::conv2d(x, w, b, s, "same", dil, groups)
                                                : at::conv2d(x, w, b, s, pad, dil, groups);
                                  }));
    }
    nn::Conv1dOptions o(in, out, Expand<1>(k));
    o.stride(Expand<1>(s)).dilation(Expand<1>(dil)).groups(groups).bias(bias);
    if (same)
      o.padding(torch::kSame);
    else
      o.padding(Expand<1>(pad));
    auto m = self.register_module(node.name, nn::Conv1d(o));
    Keep(self, node, m);
    if (!fakeQuant) return Unary(node, [m](const torch::Tensor& x) { return m->forward(x); });
    return self.FakeQuantOutput(node.name, Unary(node, [m, s, pad, dil, groups, same, bits](const torch::Tensor& x) {
                                  const torch::Tensor w = FakeQuantWeight(m->weight, bits);
                                  const c10::optional<torch::Tensor> b =
                                      m->bias.defined() ? c10::optional<torch::Tensor>(m->bias) : c10::nullopt;
                                  return same ? at::conv1d(x, w, b, s, "same", dil, groups)
                                              : at::conv1d(x, w, b, s, pad, dil, groups);
                                }));
  }

  static NodeFn BatchNorm(Self& self, const NodeSpec& node) {
    namespace nn = torch::nn;
    const int64_t c = Int(node, "numFeatures");
    const double eps = Num(node, "eps", 1e-5), momentum = Num(node, "momentum", 0.1);
    if (node.op == "batchnorm2d") {
      auto m = self.register_module(node.name, nn::BatchNorm2d(nn::BatchNorm2dOptions(c).eps(eps).momentum(momentum)));
      Keep(self, node, m);
      return Unary(node, [m](const torch::Tensor& x) { return m->forward(x); });
    }
    auto m = self.register_module(node.name, nn::BatchNorm1d(nn::BatchNorm1dOptions(c).eps(eps).momentum(momentum)));
    Keep(self, node, m);
    return Unary(node, [m](const torch::Tensor& x) { return m->forward(x); });
  }

  static NodeFn Linear(Self& self, const NodeSpec& node) {
    namespace nn = torch::nn;
    auto m = self.register_module(
        node.name,
        nn::Linear(
            nn::LinearOptions(Int(node, "inFeatures"), Int(node, "outFeatures")).bias(Bool(node, "bias", true))));
    Keep(self, node, m);
    if (!Bool(node, "fakeQuant", false))
      return Unary(node, [m](const torch::Tensor& x) { return InferenceLinear(x, m->weight, m->bias); });
    const int bits = static_cast<int>(Int(node, "fakeQuantBits", 8));
    return self.FakeQuantOutput(node.name, Unary(node, [m, bits](const torch::Tensor& x) {
                                  return torch::linear(x, FakeQuantWeight(m->weight, bits),
                                                       m->bias.defined() ? m->bias : torch::Tensor());
                                }));
  }

  // qlinear, qconv1d, qconv2d: int8 layers (native/quantize.cc).
  static NodeFn QuantLayer(Self& self, const NodeSpec& node) {
    auto m = BuildQuantLayer(node);
    self.register_module(node.name, m);
    Keep(self, node, m);
    self.quantized_.push_back(m);
    return Unary(node, [m](const torch::Tensor& x) { return m->forward(x); });
  }

  static NodeFn QuantGru(Self& self, const NodeSpec& node) {
    auto m = BuildQuantGru(node);
    self.register_module(node.name, m);
    Keep(self, node, m);
    self.quantizedGru_.push_back(m);
    return Unary(node, [m](const torch::Tensor& x) { return m->forward(x); });
  }

  static NodeFn Relu(Self&, const NodeSpec& node) {
    return Unary(node, [](const torch::Tensor& x) { return torch::relu(x); });
  }
  static NodeFn Gelu(Self&, const NodeSpec& node) {
    return Unary(node, [](const torch::Tensor& x) { return torch::gelu(x); });
  }
  static NodeFn Sigmoid(Self&, const NodeSpec& node) {
    return Unary(node, [](const torch::Tensor& x) { return torch::sigmoid(x); });
  }
  static NodeFn Tanh(Self&, const NodeSpec& node) {
    return Unary(node, [](const torch::Tensor& x) { return torch::tanh(x); });
  }

  // maxpool1d, avgpool1d
  static NodeFn Pool1d(Self&, const NodeSpec& node) {
    auto k = Ints(node, "kernelSize", 1);
    auto s = Ints(node, "stride", 1, k);
    auto p = Ints(node, "padding", 1, {0});
    // Explicit dilation: the quantized kernels read dilation[1] and do not expand a 1-element default.
    if (node.op == "maxpool1d") {
      return Unary(node, [k, s, p](const torch::Tensor& x) {
        return x.is_quantized() ? QuantizedMaxPool1d(x, k[0], s[0], p[0]) : torch::max_pool1d(x, k, s, p, {1});
      });
    }
    return Unary(node, [k, s, p](const torch::Tensor& x) { return torch::avg_pool1d(x, k, s, p); });
  }

  // maxpool2d, avgpool2d
  static NodeFn Pool2d(Self&, const NodeSpec& node) {
    auto k = Ints(node, "kernelSize", 2);
    auto s = Ints(node, "stride", 2, k);
    auto p = Ints(node, "padding", 2, {0, 0});
    if (node.op == "maxpool2d")
      return Unary(node, [k, s, p](const torch::Tensor& x) { return torch::max_pool2d(x, k, s, p, {1, 1}); });
    return Unary(node, [k, s, p](const torch::Tensor& x) { return torch::avg_pool2d(x, k, s, p); });
  }

  // adaptiveavgpool1d, adaptivemaxpool1d
  static NodeFn Adaptive1d(Self&, const NodeSpec& node) {
    auto size = Ints(node, "outputSize", 1);
    if (node.op == "adaptiveavgpool1d")
      return Unary(node, [size](const torch::Tensor& x) { return torch::adaptive_avg_pool1d(x, size); });
    return Unary(node, [size](const torch::Tensor& x) { return std::get<0>(torch::adaptive_max_pool1d(x, size)); });
  }

  // adaptiveavgpool2d, adaptivemaxpool2d
  static NodeFn Adaptive2d(Self&, const NodeSpec& node) {
    auto size = Ints(node, "outputSize", 2);
    if (node.op == "adaptiveavgpool2d")
      return Unary(node, [size](const torch::Tensor& x) { return torch::adaptive_avg_pool2d(x, size); });
    return Unary(node, [size](const torch::Tensor& x) { return std::get<0>(torch::adaptive_max_pool2d(x, size)); });
  }

  static NodeFn Add(Self&, const NodeSpec& node) {
    if (node.inputs.size() < 2) Fail(ErrorCode::Config, "node '" + node.name + "' (add) needs at least two inputs");
    if (FindAttr(node, "outScale") != nullptr) {  // int8 residual join (lib/compress/quantize.ts)
      const double scale = Num(node, "outScale");
      const int64_t zp = Int(node, "outZeroPoint", 0);
      const bool relu = Bool(node, "relu", false);
      return [scale, zp, relu](std::vector<torch::Tensor>& a) { return QuantizedAdd(a, scale, zp, relu); };
    }
    return [](std::vector<torch::Tensor>& a) {
      torch::Tensor sum = a[0] + a[1];
      for (size_t i = 2; i < a.size(); ++i) sum.add_(a[i]);
      return sum;
    };
  }

  static NodeFn Concat(Self&, const NodeSpec& node) {
    if (node.inputs.size() < 2) Fail(ErrorCode::Config, "node '" + node.name + "' (concat) needs at least two inputs");
    const int64_t dim = Int(node, "dim", 1);
    if (FindAttr(node, "outScale") != nullptr) {
      const double scale = Num(node, "outScale");
      const int64_t zp = Int(node, "outZeroPoint", 0);
      return [dim, scale, zp](std::vector<torch::Tensor>& a) { return QuantizedCat(a, dim, scale, zp); };
    }
    return [dim](std::vector<torch::Tensor>& a) { return torch::cat(a, dim); };
  }

  static NodeFn Flatten(Self&, const NodeSpec& node) {
    const int64_t start = Int(node, "startDim", 1);
    return Unary(node, [start](const torch::Tensor& x) { return x.flatten(start); });
  }

  static NodeFn Dropout(Self& self, const NodeSpec& node) {
    const double p = Num(node, "p");
    if (!(p >= 0 && p < 1)) Fail(ErrorCode::Config, Where(node, "p") + ": must lie in [0, 1)");
    Self* module = &self;
    return Unary(node, [module, p](const torch::Tensor& x) -> torch::Tensor {
      if (!module->is_training() || p == 0) return x;
      torch::Tensor mask;
      if (x.is_cpu()) {
        mask = torch::empty_like(x).bernoulli_(1 - p, module->dropoutGenerator_);
      } else {
        mask = torch::empty_like(x).bernoulli_(1 - p);  // the device's default generator
      }
      return x * mask / (1 - p);
    });
  }

  static NodeFn Embedding(Self& self, const NodeSpec& node) {
    auto m =
        self.register_module(node.name, torch::nn::Embedding(Int(node, "numEmbeddings"), Int(node, "embeddingDim")));
    Keep(self, node, m);
    return Unary(node, [m](const torch::Tensor& x) { return m->forward(x); });
  }

  static NodeFn Gru(Self& self, const NodeSpec& node) {
    namespace nn = torch::nn;
    const bool bidirectional = Bool(node, "bidirectional", false);
    const std::string output = Text(node, "output", "last");
    if (output != "last" && output != "sequence")
      Fail(ErrorCode::Config, Where(node, "output") + ": 'last' or 'sequence'");
    auto m = self.register_module(node.name, nn::GRU(nn::GRUOptions(Int(node, "inputSize"), Int(node, "hiddenSize"))
                                                         .num_layers(Int(node, "numLayers", 1))
                                                         .batch_first(true)
                                                         .bidirectional(bidirectional)));
    Keep(self, node, m);
    const bool last = output == "last";
    return Unary(node, [m, last, bidirectional](const torch::Tensor& x) {
      auto result = m->forward(x);
      if (!last) return std::get<0>(result);
      const torch::Tensor& hn = std::get<1>(result);  // (layers·dirs, B, H)
      if (!bidirectional) return hn[hn.size(0) - 1];
      return torch::cat({hn[hn.size(0) - 2], hn[hn.size(0) - 1]}, 1);
    });
  }

  static NodeFn LayerNorm(Self& self, const NodeSpec& node) {
    namespace nn = torch::nn;
    const Attr* a = FindAttr(node, "normalizedShape");
    if (a == nullptr || a->numbers.empty()) Fail(ErrorCode::Config, Where(node, "normalizedShape") + ": required");
    std::vector<int64_t> shape;
    for (double v : a->numbers) shape.push_back(ToInt64(v, Where(node, "normalizedShape")));
    auto m = self.register_module(node.name, nn::LayerNorm(nn::LayerNormOptions(shape).eps(Num(node, "eps", 1e-5))));
    Keep(self, node, m);
    return Unary(node, [m](const torch::Tensor& x) { return m->forward(x); });
  }

  // lowrank_linear, lowrank_conv1d, lowrank_conv2d
  static NodeFn Lowrank(Self& self, const NodeSpec& node) {
    const std::string& op = node.op;
    const int64_t rank = Int(node, "rank");
    if (rank < 1) Fail(ErrorCode::Config, Where(node, "rank") + ": must be at least 1");
    petra::Lowrank m{nullptr};
    if (op == "lowrank_linear") {
      m = petra::Lowrank(LowrankImpl::Kind::Linear, Int(node, "inFeatures"), Int(node, "outFeatures"), rank,
                         std::vector<int64_t>{}, std::vector<int64_t>{}, std::vector<int64_t>{}, false,
                         std::vector<int64_t>{}, Bool(node, "bias", true));
    } else {
      const size_t d = op == "lowrank_conv2d" ? 2 : 1;
      if (Int(node, "groups", 1) != 1)
        Fail(ErrorCode::Config, "node '" + node.name + "': a lowrank conv needs groups = 1");
      const bool same = IsSame(node, "padding");
      m = petra::Lowrank(d == 2 ? LowrankImpl::Kind::Conv2d : LowrankImpl::Kind::Conv1d, Int(node, "inChannels"),
                         Int(node, "outChannels"), rank, Ints(node, "kernelSize", d),
                         Ints(node, "stride", d, std::vector<int64_t>(d, 1)),
                         same ? std::vector<int64_t>(d, 0) : Ints(node, "padding", d, std::vector<int64_t>(d, 0)), same,
                         Ints(node, "dilation", d, std::vector<int64_t>(d, 1)), Bool(node, "bias", true));
    }
    auto registered = self.register_module(node.name, m);
    Keep(self, node, registered);
    self.lowrank_.push_back(registered);
    return Unary(node, [registered](const torch::Tensor& x) { return registered->forward(x); });
  }
};

const GraphModuleImpl::Builders::Op& GraphModuleImpl::Builders::Find(const NodeSpec& node) {
  constexpr bool kInt8 = true;    // takes int8 inputs as they are (quantAware in lib/graph/ops/)
  constexpr bool kFloat = false;  // int8 inputs are dequantized first
  static const std::unordered_map<std::string, Op> table = {
      {"conv1d", {Conv, kFloat}},
      {"conv2d", {Conv, kFloat}},
      {"batchnorm1d", {BatchNorm, kFloat}},
      {"batchnorm2d", {BatchNorm, kFloat}},
      {"linear", {Linear, kFloat}},
      {"relu", {Relu, kInt8}},
      {"gelu", {Gelu, kFloat}},
      {"sigmoid", {Sigmoid, kFloat}},
      {"tanh", {Tanh, kFloat}},
      {"maxpool1d", {Pool1d, kInt8}},
      {"maxpool2d", {Pool2d, kInt8}},
      {"avgpool1d", {Pool1d, kFloat}},
      {"avgpool2d", {Pool2d, kFloat}},
      {"adaptiveavgpool1d", {Adaptive1d, kInt8}},
      {"adaptiveavgpool2d", {Adaptive2d, kInt8}},
      {"adaptivemaxpool1d", {Adaptive1d, kFloat}},
      {"adaptivemaxpool2d", {Adaptive2d, kFloat}},
      {"add", {Add, kFloat}},        // int8 with attrs.outScale
      {"concat", {Concat, kFloat}},  // int8 with attrs.outScale
      {"flatten", {Flatten, kInt8}},
      {"dropout", {Dropout, kFloat}},
      {"embedding", {Embedding, kFloat}},
      {"gru", {Gru, kFloat}},
      {"layernorm", {LayerNorm, kFloat}},
      {"lowrank_linear", {Lowrank, kFloat}},
      {"lowrank_conv1d", {Lowrank, kFloat}},
      {"lowrank_conv2d", {Lowrank, kFloat}},
      {"qlinear", {QuantLayer, kInt8}},
      {"qconv1d", {QuantLayer, kInt8}},
      {"qconv2d", {QuantLayer, kInt8}},
      {"qgru", {QuantGru, kFloat}},
  };
  auto it = table.find(node.op);
  if (it == table.end()) Fail(ErrorCode::Config, "node '" + node.name + "': unknown op '" + node.op + "'");
  return it->second;
}

GraphModuleImpl::GraphModuleImpl(const GraphSpec& spec)
    : spec_(spec), dropoutGenerator_(at::detail::createCPUGenerator(0)) {
  std::map<std::string, size_t> valueIndex;
  for (size_t i = 0; i < spec_.inputs.size(); ++i) valueIndex[spec_.inputs[i].name] = i;
  std::vector<size_t> order = TopologicalOrder(spec_);
  for (size_t k = 0; k < order.size(); ++k) {
    const NodeSpec& node = spec_.nodes[order[k]];
    Step step;
    step.name = node.name;
    for (const auto& src : node.inputs) step.args.push_back(valueIndex.at(src));
    if (step.args.empty()) Fail(ErrorCode::Config, "node '" + node.name + "' has no inputs");
    const Builders::Op& op = Builders::Find(node);
    step.fn = WithComputeDtype(node, op.build(*this, node));
    step.acceptsQuantized =
        op.takesInt8 || ((node.op == "add" || node.op == "concat") && node.attrs.count("outScale") > 0);
    valueIndex[node.name] = spec_.inputs.size() + k;
    steps_.push_back(std::move(step));
    if (Text(node, "engine", "") == "qnnpack") usesQnnpack_ = true;
  }
  auto out = valueIndex.find(spec_.output);
  if (out == valueIndex.end()) Fail(ErrorCode::Config, "output '" + spec_.output + "' is not a node");
  outputIndex_ = out->second;
  // Free each intermediate right after its last reader: inference memory stays at the live set.
  std::vector<size_t> lastReader(spec_.inputs.size() + steps_.size(), SIZE_MAX);
  for (size_t k = 0; k < steps_.size(); ++k)
    for (size_t a : steps_[k].args) lastReader[a] = k;
  for (size_t v = 0; v < lastReader.size(); ++v) {
    if (lastReader[v] != SIZE_MAX && v != outputIndex_) steps_[lastReader[v]].releaseAfter.push_back(v);
  }
  PlanFolds();
}

void GraphModuleImpl::PlanFolds() {
  foldOfStep_.assign(steps_.size(), -1);
  std::map<std::string, size_t> stepOf;
  for (size_t k = 0; k < steps_.size(); ++k) stepOf[steps_[k].name] = k;
  std::map<std::string, const NodeSpec*> nodeOf;
  for (const NodeSpec& n : spec_.nodes) nodeOf[n.name] = &n;
  std::vector<size_t> readers(spec_.inputs.size() + steps_.size(), 0);
  for (const Step& st : steps_)
    for (size_t a : st.args) ++readers[a];
  for (const NodeSpec& bnNode : spec_.nodes) {
    if (bnNode.op != "batchnorm1d" && bnNode.op != "batchnorm2d") continue;
    if (bnNode.inputs.size() != 1 || FindAttr(bnNode, "dtype") != nullptr) continue;
    auto convStep = stepOf.find(bnNode.inputs[0]);
    if (convStep == stepOf.end()) continue;  // a graph input
    const NodeSpec& convNode = *nodeOf.at(bnNode.inputs[0]);
    if (convNode.op != "conv1d" && convNode.op != "conv2d") continue;
    if (Bool(convNode, "fakeQuant", false) || FindAttr(convNode, "dtype") != nullptr) continue;
    // The convolution's output must be read by the BatchNorm alone (and not be the model's output).
    const size_t value = spec_.inputs.size() + convStep->second;
    if (value == outputIndex_ || readers[value] != 1) continue;
    const auto conv = NodeModule(convNode.name), bn = NodeModule(bnNode.name);
    if (!conv || !bn) continue;
    const auto convParams = conv->named_parameters(false), bnParams = bn->named_parameters(false);
    const auto bnBuffers = bn->named_buffers(false);
    const torch::Tensor* bias = convParams.find("bias");
    const torch::Tensor *gamma = bnParams.find("weight"), *beta = bnParams.find("bias");
    const torch::Tensor *mean = bnBuffers.find("running_mean"), *var = bnBuffers.find("running_var");
    if (!gamma || !beta || !mean || !var) continue;  // no affine parameters or running statistics: nothing to fold
    ConvBnFold fold;
    fold.convWeight = convParams["weight"];
    if (bias != nullptr) fold.convBias = *bias;
    std::tie(fold.gamma, fold.beta, fold.mean, fold.var) = std::tie(*gamma, *beta, *mean, *var);
    fold.geometry = convGeometry_.at(convNode.name);
    fold.eps = Num(bnNode, "eps", 1e-5);
    foldOfStep_[convStep->second] = static_cast<int>(folds_.size());
    foldOfStep_[stepOf.at(bnNode.name)] = -2;
    folds_.push_back(std::move(fold));
  }
  convGeometry_.clear();  // only planning reads it
}

torch::Tensor GraphModuleImpl::RunFoldedConv(ConvBnFold& fold, const torch::Tensor& x) {
  std::vector<std::pair<const void*, int64_t>> now;
  for (const torch::Tensor& t : {fold.convWeight, fold.convBias, fold.gamma, fold.beta, fold.mean, fold.var})
    now.emplace_back(t.defined() ? t.data_ptr() : nullptr, t.defined() ? t._version() : -1);
  {
    std::lock_guard<std::mutex> lock(foldMutex_);
    if (now != fold.seen || !fold.weight.defined()) {
      // Ordinary tensors (not inference tensors), so a later forward outside InferenceMode may use them too.
      c10::InferenceMode notInference(false);
      torch::NoGradGuard noGrad;
      const torch::Tensor scale = fold.gamma / torch::sqrt(fold.var + fold.eps);
      std::vector<int64_t> shape(fold.convWeight.dim(), 1);
      shape[0] = fold.convWeight.size(0);
      fold.weight = (fold.convWeight * scale.view(shape)).contiguous();
      const torch::Tensor b = fold.convBias.defined() ? fold.convBias : torch::zeros_like(fold.mean);
      fold.bias = (b - fold.mean) * scale + fold.beta;
      fold.seen = std::move(now);
    }
  }
  const ConvGeometry& g = fold.geometry;
  if (g.two)
    return g.same ? at::conv2d(x, fold.weight, fold.bias, g.stride, "same", g.dilation, g.groups)
                  : at::conv2d(x, fold.weight, fold.bias, g.stride, g.padding, g.dilation, g.groups);
  return g.same ? at::conv1d(x, fold.weight, fold.bias, g.stride, "same", g.dilation, g.groups)
                : at::conv1d(x, fold.weight, fold.bias, g.stride, g.padding, g.dilation, g.groups);
}

// attrs.dtype 'float16' / 'bfloat16': the layer's weights are stored and run in that precision, its float inputs cast
// on the way in and its output back to float32. It is how a layer with no int8 kernel on CUDA (convolutions, GRU)
// still gets cheaper under quantize({ backend: 'cuda' }), reported as such rather than as int8.
GraphModuleImpl::NodeFn GraphModuleImpl::WithComputeDtype(const NodeSpec& node, NodeFn inner) {
  const Attr* attr = FindAttr(node, "dtype");
  if (attr == nullptr) return inner;
  if (!attr->isText || (attr->text != "float16" && attr->text != "bfloat16")) {
    Fail(ErrorCode::Config, "node '" + node.name + "' attrs.dtype must be 'float16' or 'bfloat16'");
  }
  auto module = NodeModule(node.name);
  if (!module)
    Fail(ErrorCode::Config, "node '" + node.name + "' (" + node.op + ") has no weights: attrs.dtype applies to layers");
  const torch::ScalarType dtype = attr->text == "float16" ? torch::kFloat16 : torch::kBFloat16;
  module->to(dtype);
  return [inner = std::move(inner), dtype](std::vector<torch::Tensor>& args) {
    for (auto& t : args)
      if (t.is_floating_point()) t = t.to(dtype);
    torch::Tensor y = inner(args);
    return y.is_floating_point() ? y.to(torch::kFloat32) : y;
  };
}

torch::Tensor GraphModuleImpl::forward(const std::vector<torch::Tensor>& inputs) { return RunSteps(inputs, nullptr); }

torch::Tensor GraphModuleImpl::ForwardObserved(const std::vector<torch::Tensor>& inputs, const ValueObserver& observe) {
  return RunSteps(inputs, &observe);
}

void GraphModuleImpl::PrepareQuantized() {
  for (auto& m : quantized_) std::static_pointer_cast<QuantLayerImpl>(m)->Prepare();
  for (auto& m : quantizedGru_) std::static_pointer_cast<QuantGruImpl>(m)->Prepare();
}

torch::Tensor GraphModuleImpl::RunSteps(const std::vector<torch::Tensor>& inputs, const ValueObserver* observe) {
  if (inputs.size() != spec_.inputs.size()) {
    Fail(ErrorCode::Shape,
         "the model takes " + std::to_string(spec_.inputs.size()) + " input(s), got " + std::to_string(inputs.size()));
  }
  std::unique_lock<std::mutex> qnnpack;
  if (usesQnnpack_) qnnpack = std::unique_lock<std::mutex>(QnnpackMutex());
  std::vector<torch::Tensor> values(spec_.inputs.size() + steps_.size());
  std::copy(inputs.begin(), inputs.end(), values.begin());
  if (observe)
    for (size_t i = 0; i < inputs.size(); ++i) (*observe)(spec_.inputs[i].name, inputs[i]);
  std::vector<torch::Tensor> args;
  // PETRA_FOLD_BATCHNORM=0 runs every BatchNorm as its own op (benches compare the two).
  static const bool foldEnabled = [] {
    const char* v = std::getenv("PETRA_FOLD_BATCHNORM");
    return v == nullptr || std::string(v) != "0";
  }();
  const bool fold =
      foldEnabled && !folds_.empty() && observe == nullptr && !is_training() && !torch::GradMode::is_enabled();
  for (size_t k = 0; k < steps_.size(); ++k) {
    Step& step = steps_[k];
    args.clear();
    for (size_t a : step.args) {
      const torch::Tensor& v = values[a];
      args.push_back(!step.acceptsQuantized && v.is_quantized() ? v.dequantize() : v);
    }
    try {
      const int f = fold ? foldOfStep_[k] : -1;
      if (f == -2)
        values[spec_.inputs.size() + k] = args[0];  // the BatchNorm: already applied by its convolution
      else if (f >= 0)
        values[spec_.inputs.size() + k] = RunFoldedConv(folds_[f], args[0]);
      else
        values[spec_.inputs.size() + k] = step.fn(args);
    } catch (const c10::Error& e) {
      const std::string message = CleanTorchMessage(e);
      ErrorCode code = ClassifyTorchMessage(message);
      if (code == ErrorCode::Native) code = ErrorCode::Shape;
      std::string got;
      for (const auto& t : args) got += (got.empty() ? "" : ", ") + ShapeString(t.sizes());
      throw PetraException(code, "node '" + step.name + "' failed on input " + got + ": " + message);
    }
    if (observe) (*observe)(step.name, values[spec_.inputs.size() + k]);
    for (size_t v : step.releaseAfter) values[v] = torch::Tensor();
  }
  const torch::Tensor& out = values[outputIndex_];
  return out.is_quantized() ? out.dequantize() : out;
}

// QAT: fake-quantize a node's output (quint8, affine) with a moving min/max, so training sees int8 rounding.
GraphModuleImpl::NodeFn GraphModuleImpl::FakeQuantOutput(const std::string& name, NodeFn inner) {
  return [this, name, inner](std::vector<torch::Tensor>& a) {
    torch::Tensor y = inner(a);
    auto it = qatRanges_.find(name);
    if (is_training() || it == qatRanges_.end()) {
      torch::NoGradGuard noGrad;
      const double lo = std::min(0.0, y.min().item<double>()), hi = std::max(0.0, y.max().item<double>());
      if (it == qatRanges_.end()) {
        it = qatRanges_.emplace(name, std::make_pair(lo, hi)).first;
      } else {
        it->second.first += 0.01 * (lo - it->second.first);
        it->second.second += 0.01 * (hi - it->second.second);
      }
    }
    const auto [lo, hi] = it->second;
    const double scale = std::max((hi - lo) / 255.0, 1e-8);
    // Clamped as a double: after inf activations the running range can be NaN, and casting NaN is UB.
    const double z = std::nearbyint(-lo / scale);
    const int64_t zp = z > 0 ? (z < 255 ? static_cast<int64_t>(z) : 255) : 0;
    return torch::fake_quantize_per_tensor_affine(y, scale, zp, 0, 255);
  };
}

void GraphModuleImpl::SeedDropout(uint64_t seed) {
  std::lock_guard<std::mutex> lock(dropoutGenerator_.mutex());
  dropoutGenerator_.set_current_seed(seed);
}

int64_t GraphModuleImpl::ParameterCount() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

std::shared_ptr<torch::nn::Module> GraphModuleImpl::NodeModule(const std::string& name) const {
  auto it = nodeModules_.find(name);
  return it == nodeModules_.end() ? nullptr : it->second;
}

}  // namespace petra
