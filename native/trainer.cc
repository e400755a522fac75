// Training and evaluation, one coarse call each: a whole epoch or a whole validation pass per Promise.
// Policy (epochs, schedules, early stopping) lives in lib/runtime/train.ts; this file only runs the loops.
#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>

#include "model.h"

namespace petra {
namespace {

using Clock = std::chrono::steady_clock;

enum class LossKind { CrossEntropy, Mse };

struct OptimizerOptions {
  std::string kind = "sgd";
  double lr = 0.01, momentum = 0.9, weightDecay = 0, beta1 = 0.9, beta2 = 0.999;
  bool nesterov = false;
};

double NumberOr(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}
bool BoolOr(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}
std::string StringOr(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : fallback;
}

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const OptimizerOptions& o, std::vector<torch::Tensor> params) {
  if (o.kind == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov).weight_decay(o.weightDecay));
  }
  if (o.kind == "adam") {
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(o.weightDecay));
  }
  if (o.kind == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(o.weightDecay));
  }
  Fail(ErrorCode::Config, "unknown optimizer '" + o.kind + "': sgd, adam or adamw");
}

torch::Tensor TaskLoss(LossKind kind, const torch::Tensor& output, const torch::Tensor& target) {
  if (kind == LossKind::CrossEntropy) return torch::nn::functional::cross_entropy(output, target);
  return torch::mse_loss(output, target);
}

struct Regularization {
  double orthogonality = 0, hoyer = 0, l1 = 0;
  bool any() const { return orthogonality > 0 || hoyer > 0 || l1 > 0; }
};

// The PETRA paper's regularizers (arXiv 2510.09566; README.md, "Compression operators"): on factorized layers
// W = U·diag(S)·Vh, orthogonality (1/n)·Σ(‖UᵀU − I‖²_F/r + ‖Vh·Vhᵀ − I‖²_F/r) and Hoyer sparsity (1/n)·Σ‖S‖₁/‖S‖₂;
// plus an L1 term, the mean absolute value of every conv/linear weight (a scale that does not grow with model size).
torch::Tensor RegularizationLoss(GraphModuleImpl& module, const Regularization& reg) {
  torch::Tensor total;
  auto addTerm = [&total](const torch::Tensor& t) { total = total.defined() ? total + t : t; };
  const auto& layers = module.LowrankLayers();
  if (!layers.empty() && (reg.orthogonality > 0 || reg.hoyer > 0)) {
    const double n = static_cast<double>(layers.size());
    for (const auto& layer : layers) {
      const double r = static_cast<double>(layer->rank);
      if (reg.orthogonality > 0) {
        torch::Tensor eye = torch::eye(layer->rank, layer->U.options());
        torch::Tensor uu = torch::mm(layer->U.t(), layer->U) - eye;
        torch::Tensor vv = torch::mm(layer->Vh, layer->Vh.t()) - eye;
        addTerm((uu.pow(2).sum() / r + vv.pow(2).sum() / r) * (reg.orthogonality / n));
      }
      if (reg.hoyer > 0) addTerm(layer->S.abs().sum() / layer->S.norm().clamp_min(1e-12) * (reg.hoyer / n));
    }
  }
  if (reg.l1 > 0) {
    torch::Tensor sum;
    int64_t count = 0;
    for (const auto& p : module.named_parameters()) {
      const std::string& name = p.key();
      const bool weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && p.value().dim() >= 2;
      if (!weight) continue;
      sum = sum.defined() ? sum + p.value().abs().sum() : p.value().abs().sum();
      count += p.value().numel();
    }
    if (count > 0) addTerm(sum / static_cast<double>(count) * reg.l1);
  }
  return total;
}

struct TrainerState {
  std::shared_ptr<ModelState> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  LossKind loss = LossKind::CrossEntropy;
  Regularization regularization;
  std::atomic<bool> cancel{false};
};

struct Progress {
  int64_t batch, batches;
  double loss, seconds;
};

struct EpochOptions {
  int64_t batchSize = 64;
  double lr = -1;  // < 0: keep the optimizer's
  int64_t seed = 0;
  bool shuffle = true;
  double progressIntervalMs = 200;
};

class EpochWorker : public PromiseWorker {
 public:
  EpochWorker(Napi::Env env, std::shared_ptr<TrainerState> trainer, std::shared_ptr<DatasetState> data,
              EpochOptions options, Napi::Value onProgress)
      : PromiseWorker(env, "petra.trainEpoch"),
        trainer_(std::move(trainer)),
        data_(std::move(data)),
        options_(options) {
    if (onProgress.IsFunction()) {
      progress_ = Napi::ThreadSafeFunction::New(env, onProgress.As<Napi::Function>(), "petra.progress", 0, 1);
      progress_.Unref(env);
      hasProgress_ = true;
    }
  }
  ~EpochWorker() override {
    if (hasProgress_) progress_.Release();
  }

 protected:
  void Run() override {
    ModelState& model = *trainer_->model;
    std::lock_guard<std::mutex> lock(model.mutex);
    CheckInputs(model.spec, data_->inputs);
    CheckTarget(model.spec, data_->target, data_->size);
    const auto started = Clock::now();
    auto lastReport = started;
    model.module->train();
    if (options_.lr >= 0) {
      for (auto& group : trainer_->optimizer->param_groups()) group.options().set_lr(options_.lr);
    }
    const int64_t n = data_->size;
    model.module->SeedDropout(static_cast<uint64_t>(options_.seed) * 2654435761ULL + 1);
    torch::Tensor order;
    if (options_.shuffle) {
      auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(options_.seed));
      order = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
    } else {
      order = torch::arange(n, torch::TensorOptions().dtype(torch::kInt64));
    }
    order = order.to(data_->device);
    const int64_t bs = std::max<int64_t>(1, options_.batchSize);
    int64_t batches = (n + bs - 1) / bs;
    // A trailing batch of one sample breaks BatchNorm's training statistics: fold it away.
    if (batches > 1 && n % bs == 1) batches -= 1;
    const bool onCuda = model.device.is_cuda();
    const bool moveBatches = data_->device != model.device;
    torch::Tensor lossSum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(model.device));
    double lossHost = 0;
    for (int64_t b = 0; b < batches; ++b) {
      if (trainer_->cancel.load())
        Fail(ErrorCode::Aborted,
             "training was aborted at batch " + std::to_string(b) + " of " + std::to_string(batches));
      const int64_t start = b * bs;
      const int64_t len = (b == batches - 1) ? n - start : bs;
      torch::Tensor idx = order.narrow(0, start, len);
      std::vector<torch::Tensor> inputs;
      inputs.reserve(data_->inputs.size());
      for (const auto& t : data_->inputs) {
        torch::Tensor x = t.index_select(0, idx);
        inputs.push_back(moveBatches ? x.to(model.device, /*non_blocking=*/true) : x);
      }
      torch::Tensor target = data_->target.index_select(0, idx);
      if (moveBatches) target = target.to(model.device, true);
      trainer_->optimizer->zero_grad();
      torch::Tensor output = model.module->forward(inputs);
      torch::Tensor loss = TaskLoss(trainer_->loss, output, target);
      if (trainer_->regularization.any()) {
        torch::Tensor reg = RegularizationLoss(*model.module, trainer_->regularization);
        (reg.defined() ? loss + reg : loss).backward();
      } else {
        loss.backward();
      }
      trainer_->optimizer->step();
      // On CPU a scalar read is free; on CUDA it syncs, so accumulate on the device and look every 32 steps.
      bool check = !onCuda || b % 32 == 31 || b == batches - 1;
      if (onCuda) {
        lossSum += loss.detach().to(torch::kFloat64) * static_cast<double>(len);
        if (check) lossHost = lossSum.item<double>();
      } else {
        lossHost += loss.item<double>() * static_cast<double>(len);
      }
      if (check && !std::isfinite(lossHost)) {
        Fail(ErrorCode::Numeric, "the loss became " + std::string(std::isnan(lossHost) ? "NaN" : "infinite") +
                                     " at batch " + std::to_string(b + 1) + " of " + std::to_string(batches) +
                                     " (learning rate " +
                                     std::to_string(trainer_->optimizer->param_groups()[0].options().get_lr()) + ")");
      }
      samples_ += len;
      if (hasProgress_ && check) {
        auto now = Clock::now();
        if (std::chrono::duration<double, std::milli>(now - lastReport).count() >= options_.progressIntervalMs) {
          lastReport = now;
          auto* p = new Progress{b + 1, batches, lossHost / static_cast<double>(samples_),
                                 std::chrono::duration<double>(now - started).count()};
          if (progress_.NonBlockingCall(p, DeliverProgress) != napi_ok) delete p;
        }
      }
    }
    batches_ = batches;
    loss_ = samples_ ? lossHost / static_cast<double>(samples_) : 0;
    seconds_ = std::chrono::duration<double>(Clock::now() - started).count();
  }
  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("loss", loss_);
    out.Set("batches", static_cast<double>(batches_));
    out.Set("samples", static_cast<double>(samples_));
    out.Set("seconds", seconds_);
    return out;
  }

 private:
  static void DeliverProgress(Napi::Env env, Napi::Function callback, Progress* p) {
    if (env != nullptr && callback != nullptr) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("batch", static_cast<double>(p->batch));
      o.Set("batches", static_cast<double>(p->batches));
      o.Set("loss", p->loss);
      o.Set("seconds", p->seconds);
      try {
        callback.Call({o});
      } catch (...) {
        // A throwing progress listener must not take the training down.
      }
    }
    delete p;
  }

  std::shared_ptr<TrainerState> trainer_;
  std::shared_ptr<DatasetState> data_;
  EpochOptions options_;
  Napi::ThreadSafeFunction progress_;
  bool hasProgress_ = false;
  int64_t samples_ = 0, batches_ = 0;
  double loss_ = 0, seconds_ = 0;
};

class Trainer : public Napi::ObjectWrap<Trainer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeTrainer",
                       {InstanceMethod<&Trainer::TrainEpoch>("trainEpoch"), InstanceMethod<&Trainer::Cancel>("cancel"),
                        InstanceMethod<&Trainer::Dispose>("dispose")});
  }
  explicit Trainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Trainer>(info) {}
  void Attach(std::shared_ptr<TrainerState> state) { state_ = std::move(state); }

 private:
  std::shared_ptr<TrainerState> State(Napi::Env env) {
    if (!state_) throw MakeError(env, {ErrorCode::Disposed, "trainer was disposed and can no longer be used"});
    return state_;
  }
  Napi::Value TrainEpoch(const Napi::CallbackInfo& info) {
    auto state = State(info.Env());
    return Guarded(info.Env(), [&]() -> Napi::Value {
      auto data = UnwrapDataset(info[0]);
      EpochOptions options;
      if (info[1].IsObject()) {
        Napi::Object o = info[1].As<Napi::Object>();
        // ToInt64, not a cast: NaN, Infinity or a seed past 2^63 (lib/runtime/train.ts passes seed × 100003 + epoch)
        // was undefined behaviour; now a ConfigError.
        options.batchSize = ToInt64(NumberOr(o, "batchSize", 64), "batchSize");
        options.lr = NumberOr(o, "lr", -1);
        options.seed = ToInt64(NumberOr(o, "seed", 0), "seed");
        options.shuffle = BoolOr(o, "shuffle", true);
        options.progressIntervalMs = NumberOr(o, "progressIntervalMs", 200);
      }
      if (options.batchSize < 1) Fail(ErrorCode::Config, "batchSize must be at least 1");
      state->cancel.store(false);
      return (new EpochWorker(info.Env(), state, data, options, info[2]))->Queue();
    });
  }
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (state_) state_->cancel.store(true);
    return info.Env().Undefined();
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (state_) state_->cancel.store(true);
    state_.reset();
    return info.Env().Undefined();
  }
  std::shared_ptr<TrainerState> state_;
};

Napi::Value CreateTrainer(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    auto model = UnwrapModel(info[0]);
    Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(info.Env());
    OptimizerOptions opt;
    opt.kind = StringOr(o, "optimizer", "sgd");
    opt.lr = NumberOr(o, "lr", 0.01);
    opt.momentum = NumberOr(o, "momentum", opt.kind == "sgd" ? 0.9 : 0);
    opt.nesterov = BoolOr(o, "nesterov", false);
    opt.weightDecay = NumberOr(o, "weightDecay", 0);
    opt.beta1 = NumberOr(o, "beta1", 0.9);
    opt.beta2 = NumberOr(o, "beta2", 0.999);
    if (!(opt.lr > 0) || !std::isfinite(opt.lr)) Fail(ErrorCode::Config, "lr must be a positive number");
    if (opt.nesterov && opt.momentum <= 0) Fail(ErrorCode::Config, "nesterov needs momentum > 0");
    auto state = std::make_shared<TrainerState>();
    state->model = model;
    {
      std::lock_guard<std::mutex> lock(model->mutex);
      state->optimizer = MakeOptimizer(opt, model->module->parameters());
    }
    state->regularization.orthogonality = NumberOr(o, "orthogonality", 0);
    state->regularization.hoyer = NumberOr(o, "hoyer", 0);
    state->regularization.l1 = NumberOr(o, "l1", 0);
    const std::string loss = StringOr(o, "loss", model->spec.classification ? "cross_entropy" : "mse");
    if (loss == "cross_entropy")
      state->loss = LossKind::CrossEntropy;
    else if (loss == "mse")
      state->loss = LossKind::Mse;
    else
      Fail(ErrorCode::Config, "unknown loss '" + loss + "': cross_entropy or mse");
    if (state->loss == LossKind::CrossEntropy && !model->spec.classification)
      Fail(ErrorCode::Config, "cross_entropy needs a classification model");
    Napi::Object object = Data(info.Env()).trainerConstructor.New({});
    Trainer::Unwrap(object)->Attach(state);
    return object;
  });
}

struct Metrics {
  double loss = 0, accuracy = NAN, macroF1 = NAN, rmse = NAN, mae = NAN;
  int64_t samples = 0;
};

class EvaluateWorker : public ModelDataWorker {
 public:
  EvaluateWorker(Napi::Env env, std::shared_ptr<ModelState> model, std::shared_ptr<DatasetState> data,
                 int64_t batchSize)
      : ModelDataWorker(env, "petra.evaluate", std::move(model), std::move(data)), batchSize_(batchSize) {}

 protected:
  void Run() override {
    auto lock = Begin(/*withTarget=*/true);
    ModelState& model = *model_;
    c10::InferenceMode guard;
    model.module->eval();
    const int64_t n = data_->size;
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64).device(model.device);
    torch::Tensor lossSum = torch::zeros({}, opts), absSum = torch::zeros({}, opts), sqSum = torch::zeros({}, opts);
    const int64_t classes = model.spec.outputWidth;
    torch::Tensor confusion;
    if (model.spec.classification)
      confusion = torch::zeros({classes * classes}, torch::TensorOptions().dtype(torch::kInt64).device(model.device));
    for (int64_t start = 0; start < n; start += batchSize_) {
      const int64_t len = std::min(batchSize_, n - start);
      torch::Tensor target = data_->target.narrow(0, start, len).to(model.device);
      torch::Tensor output = model.module->forward(SliceRows(data_->inputs, start, len, model.device));
      if (model.spec.classification) {
        lossSum += torch::nn::functional::cross_entropy(
                       output, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                       .to(torch::kFloat64);
        torch::Tensor predicted = output.argmax(1);
        confusion += torch::bincount(target * classes + predicted, {}, classes * classes);
      } else {
        torch::Tensor diff = (output - target).to(torch::kFloat64);
        sqSum += diff.pow(2).sum();
        absSum += diff.abs().sum();
      }
    }
    metrics_.samples = n;
    const double count = static_cast<double>(std::max<int64_t>(1, n));
    if (model.spec.classification) {
      metrics_.loss = lossSum.item<double>() / count;
      torch::Tensor m = confusion.view({classes, classes}).to(torch::kCPU).to(torch::kFloat64);  // rows: truth
      torch::Tensor tp = m.diagonal();
      torch::Tensor support = m.sum(1), predicted = m.sum(0);
      metrics_.accuracy = tp.sum().item<double>() / count;
      // Macro-F1 over the labels that occur in truth or prediction (scikit-learn's convention).
      torch::Tensor present = (support + predicted) > 0;
      torch::Tensor f1 = 2 * tp / (support + predicted).clamp_min(1);
      const double labels = present.sum().item<double>();
      metrics_.macroF1 = labels > 0 ? f1.masked_select(present).sum().item<double>() / labels : 0;
    } else {
      const double values = count * static_cast<double>(model.spec.outputWidth);
      metrics_.loss = sqSum.item<double>() / values;
      metrics_.rmse = std::sqrt(metrics_.loss);
      metrics_.mae = absSum.item<double>() / values;
    }
    if (!std::isfinite(metrics_.loss))
      Fail(ErrorCode::Numeric, "evaluation produced a non-finite loss: the model's outputs are NaN or infinite");
  }
  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("loss", metrics_.loss);
    out.Set("samples", static_cast<double>(metrics_.samples));
    if (!std::isnan(metrics_.accuracy)) out.Set("accuracy", metrics_.accuracy);
    if (!std::isnan(metrics_.macroF1)) out.Set("macroF1", metrics_.macroF1);
    if (!std::isnan(metrics_.rmse)) out.Set("rmse", metrics_.rmse);
    if (!std::isnan(metrics_.mae)) out.Set("mae", metrics_.mae);
    return out;
  }

 private:
  int64_t batchSize_;
  Metrics metrics_;
};

Napi::Value Evaluate(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    auto model = UnwrapModel(info[0]);
    auto data = UnwrapDataset(info[1]);
    int64_t batchSize = 512;
    if (info[2].IsObject())
      batchSize = ToInt64(NumberOr(info[2].As<Napi::Object>(), "batchSize", 512), "batchSize");  // not a UB cast
    if (batchSize < 1) Fail(ErrorCode::Config, "batchSize must be at least 1");
    return (new EvaluateWorker(info.Env(), model, data, batchSize))->Queue();
  });
}

}  // namespace

void InitTrainer(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Trainer::Define(env);
  Data(env).trainerConstructor = Napi::Persistent(ctor);
  exports.Set("NativeTrainer", ctor);
  exports.Set("createTrainer", Napi::Function::New<CreateTrainer>(env, "createTrainer"));
  exports.Set("evaluate", Napi::Function::New<Evaluate>(env, "evaluate"));
}

}  // namespace petra
