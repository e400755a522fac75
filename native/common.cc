#include "common.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include <c10/util/safe_numerics.h>

namespace petra {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::Config:
      return "ERR_PETRA_CONFIG";
    case ErrorCode::Data:
      return "ERR_PETRA_DATA";
    case ErrorCode::Shape:
      return "ERR_PETRA_SHAPE";
    case ErrorCode::Dtype:
      return "ERR_PETRA_DTYPE";
    case ErrorCode::Device:
      return "ERR_PETRA_DEVICE";
    case ErrorCode::Numeric:
      return "ERR_PETRA_NUMERIC";
    case ErrorCode::Aborted:
      return "ERR_PETRA_ABORTED";
    case ErrorCode::Disposed:
      return "ERR_PETRA_DISPOSED";
    case ErrorCode::Native:
      return "ERR_PETRA_NATIVE";
  }
  return "ERR_PETRA_NATIVE";
}

void Fail(ErrorCode code, const std::string& message) { throw PetraException(code, message); }

namespace {
bool Contains(const std::string& haystack, const char* needle) { return haystack.find(needle) != std::string::npos; }

}  // namespace

ErrorCode ClassifyTorchMessage(const std::string& m) {
  if (Contains(m, "out of memory")) return ErrorCode::Device;
  if (Contains(m, "CUDA") || Contains(m, "cuda")) {
    if (Contains(m, "device") || Contains(m, "driver")) return ErrorCode::Device;
  }
  if (Contains(m, "scalar type") || Contains(m, "dtype") || Contains(m, "Expected tensor for argument") ||
      Contains(m, "expected scalar") || Contains(m, "should be the same")) {
    return ErrorCode::Dtype;
  }
  if (Contains(m, "shape") || Contains(m, "size mismatch") || Contains(m, "mat1 and mat2") || Contains(m, "Expected") ||
      Contains(m, "dimension") || Contains(m, "must match the size") || Contains(m, "input size") ||
      Contains(m, "Given groups") || Contains(m, "Calculated") || Contains(m, "out of range") || Contains(m, "sizes")) {
    return ErrorCode::Shape;
  }
  return ErrorCode::Native;
}

std::string CleanTorchMessage(const c10::Error& error) {
  std::string message = error.what_without_backtrace();
  auto cut = message.find("\nException raised from");
  if (cut != std::string::npos) message.resize(cut);
  return message;
}

CaughtError Classify(const std::exception_ptr& error) {
  CaughtError out;
  try {
    std::rethrow_exception(error);
  } catch (const PetraException& e) {
    out.code = e.code();
    out.message = e.what();
  } catch (const c10::Error& e) {
    out.message = CleanTorchMessage(e);
    out.code = ClassifyTorchMessage(out.message);
  } catch (const Napi::Error& e) {
    out.code = ErrorCode::Native;
    out.message = e.Message();
  } catch (const std::bad_alloc&) {
    out.code = ErrorCode::Device;
    out.message = "out of memory";
  } catch (const std::exception& e) {
    out.code = ErrorCode::Native;
    out.message = e.what();
  } catch (...) {
    out.code = ErrorCode::Native;
    out.message = "unknown native error";
  }
  return out;
}

AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

Napi::Error MakeError(Napi::Env env, const CaughtError& error) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr && !data->errorFactory.IsEmpty()) {
    Napi::Value made = data->errorFactory.Call(
        {Napi::String::New(env, ErrorCodeName(error.code)), Napi::String::New(env, error.message)});
    if (made.IsObject()) return Napi::Error(env, made);
  }
  Napi::Error plain = Napi::Error::New(env, error.message);
  plain.Set("code", Napi::String::New(env, ErrorCodeName(error.code)));
  return plain;
}

torch::Device ParseDevice(const std::string& text) {
  if (text == "cpu") return torch::Device(torch::kCPU);
  if (text == "cuda" || text.rfind("cuda:", 0) == 0) {
    int64_t index = 0;
    if (text.size() > 5) {
      const std::string digits = text.substr(5);
      if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit) || digits.size() > 3) {
        Fail(ErrorCode::Device, "unknown device '" + text + "': expected 'cpu' or 'cuda:N'");
      }
      index = std::stoll(digits);
    }
    if (!torch::cuda::is_available()) {
      Fail(ErrorCode::Device,
           "device '" + text + "' requested but CUDA is not available (this LibTorch build " +
               std::string(torch::cuda::device_count() == 0 ? "sees no CUDA device" : "has no CUDA") + "); use 'cpu'");
    }
    const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    if (index >= count) {
      Fail(ErrorCode::Device, "device '" + text + "' does not exist: " + std::to_string(count) + " CUDA device(s)");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  Fail(ErrorCode::Device, "unknown device '" + text + "': expected 'cpu' or 'cuda:N'");
}

std::string DeviceName(const torch::Device& device) {
  if (device.is_cpu()) return "cpu";
  return "cuda:" + std::to_string(device.has_index() ? device.index() : 0);
}

// 2^63: every double in [-2^63, 2^63) converts to int64_t; ±2^63 itself is exact in double.
constexpr double kTwoTo63 = 9223372036854775808.0;

int64_t ToInt64(double v, const std::string& what) {
  if (!(v >= -kTwoTo63 && v < kTwoTo63)) {  // also NaN
    std::ostringstream text;
    text << what << ": " << v << " is not an integer petra can use";
    Fail(ErrorCode::Config, text.str());
  }
  return static_cast<int64_t>(v);
}

std::vector<int64_t> ShapeFromJs(const Napi::Value& value, const std::string& what) {
  if (!value.IsArray()) Fail(ErrorCode::Config, what + ": shape must be an array of positive integers");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) Fail(ErrorCode::Config, what + ": shape[" + std::to_string(i) + "] is not a number");
    double v = item.As<Napi::Number>().DoubleValue();
    // Range first: the cast in the integer test is undefined behaviour for Infinity or 1e20.
    if (!(v >= 0 && v < kTwoTo63) || v != static_cast<double>(static_cast<int64_t>(v))) {
      Fail(ErrorCode::Config, what + ": shape[" + std::to_string(i) + "] must be a non-negative integer");
    }
    shape.push_back(static_cast<int64_t>(v));
  }
  return shape;
}

std::string ShapeString(at::IntArrayRef shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

torch::Tensor TensorFromJs(const Napi::Value& value, const std::string& what) {
  if (!value.IsObject()) Fail(ErrorCode::Config, what + ": expected { data, shape }");
  Napi::Object object = value.As<Napi::Object>();
  std::vector<int64_t> shape = ShapeFromJs(object.Get("shape"), what);
  Napi::Value data = object.Get("data");
  if (!data.IsTypedArray()) Fail(ErrorCode::Dtype, what + ": data must be a Float32Array or an Int32Array");
  Napi::TypedArray typed = data.As<Napi::TypedArray>();
  // The product of JS-given dimensions can overflow int64_t (signed overflow is undefined behaviour, and a wrapped
  // product could match a short array): an overflowing shape matches no array.
  uint64_t product = 1;
  const bool overflows = c10::safe_multiplies_u64(shape, &product) || product > static_cast<uint64_t>(INT64_MAX);
  if (overflows || static_cast<uint64_t>(typed.ElementLength()) != product) {
    Fail(ErrorCode::Shape, what + ": shape " + ShapeString(shape) + " needs " +
                               (overflows ? std::string("more than 2^63") : std::to_string(product)) +
                               " values but the array holds " + std::to_string(typed.ElementLength()));
  }
  void* base = static_cast<uint8_t*>(typed.ArrayBuffer().Data()) + typed.ByteOffset();
  switch (typed.TypedArrayType()) {
    case napi_float32_array:
      return torch::from_blob(base, shape, torch::kFloat32).clone();
    case napi_int32_array:
      // Labels and categorical codes: int64 is what cross_entropy and embedding want.
      return torch::from_blob(base, shape, torch::kInt32).to(torch::kInt64);
    default:
      Fail(ErrorCode::Dtype, what + ": data must be a Float32Array or an Int32Array");
  }
}

Napi::Object TensorToJs(Napi::Env env, const torch::Tensor& tensor) {
  torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
  Napi::Object out = Napi::Object::New(env);
  Napi::Array shape = Napi::Array::New(env, cpu.dim());
  for (int64_t i = 0; i < cpu.dim(); ++i) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, cpu.size(i)));
  const size_t n = static_cast<size_t>(cpu.numel());
  if (cpu.scalar_type() == torch::kInt64 || cpu.scalar_type() == torch::kInt32) {
    torch::Tensor as32 = cpu.to(torch::kInt32).contiguous();
    Napi::Int32Array array = Napi::Int32Array::New(env, n);
    if (n) std::memcpy(array.Data(), as32.data_ptr<int32_t>(), n * sizeof(int32_t));
    out.Set("data", array);
  } else {
    torch::Tensor as32 = cpu.to(torch::kFloat32).contiguous();
    Napi::Float32Array array = Napi::Float32Array::New(env, n);
    if (n) std::memcpy(array.Data(), as32.data_ptr<float>(), n * sizeof(float));
    out.Set("data", array);
  }
  out.Set("shape", shape);
  return out;
}

}  // namespace petra
