// ctorch.cpp: implementation of the C ABI declared in include/ctorch.h.
// Thin by design: argument checks throw, and every entry point converts any exception into a
// message in a thread-local slot plus a sentinel return value.
#include "ctorch.h"
#include "shim.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/version.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <stdexcept>
#include <string>
#include <vector>

namespace ot_shim {

thread_local char* g_last_error = nullptr;
std::atomic<int64_t> g_live{0};
thread_local int64_t g_live_thread = 0;

void set_error(const char* msg) {
  std::free(g_last_error);
  g_last_error = strdup(msg ? msg : "unknown error");
}

}  // namespace ot_shim

using namespace ot_shim;

namespace {

at::ScalarType to_dtype(int32_t code) {
  switch (code) {
    case 0: return at::kByte;
    case 1: return at::kInt;
    case 2: return at::kLong;
    case 3: return at::kHalf;
    case 4: return at::kFloat;
    case 5: return at::kDouble;
    case 6: return at::kBFloat16;
    case 7: return at::kBool;
    default: throw std::invalid_argument("unknown dtype code " + std::to_string(code));
  }
}

int32_t from_dtype(at::ScalarType t) {
  switch (t) {
    case at::kByte: return 0;
    case at::kInt: return 1;
    case at::kLong: return 2;
    case at::kHalf: return 3;
    case at::kFloat: return 4;
    case at::kDouble: return 5;
    case at::kBFloat16: return 6;
    case at::kBool: return 7;
    default: throw std::invalid_argument(std::string("unsupported dtype ") + c10::toString(t));
  }
}

at::TensorOptions opts(int32_t dtype, int32_t device) {
  return at::TensorOptions().dtype(to_dtype(dtype)).device(to_device(device));
}

at::IntArrayRef ints(const int64_t* p, int32_t n) {
  if (n < 0) throw std::invalid_argument("negative length");
  if (n > 0 && p == nullptr) throw std::invalid_argument("null shape pointer");
  return at::IntArrayRef(p, static_cast<size_t>(n));
}

std::vector<at::Tensor> tensors(const ot_tensor* ts, int32_t n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int32_t i = 0; i < n; ++i) v.push_back(T(ts[i]));
  return v;
}

}  // namespace

extern "C" {

// ---- errors, runtime --------------------------------------------------------------------------
const char* ot_last_error(void) { return g_last_error; }

void ot_clear_error(void) {
  std::free(g_last_error);
  g_last_error = nullptr;
}

int64_t ot_live_tensors(void) { return g_live.load(); }

int64_t ot_live_tensors_thread(void) { return g_live_thread; }

int ot_runtime_configure_allocator(void) {
  OT_TRY
  // glibc returns big blocks to the kernel after each batch by default; libtorch then pays for
  // page faults on every forward pass. Keep freed memory in the process instead.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return 0;
  OT_CATCH(-1)
}

int ot_runtime_set_threads(int32_t n) {
  OT_TRY
  if (n < 1) throw std::invalid_argument("thread count must be at least 1, got " + std::to_string(n));
  at::set_num_threads(n);
  return 0;
  OT_CATCH(-1)
}

int32_t ot_runtime_get_threads(void) {
  OT_TRY
  return at::get_num_threads();
  OT_CATCH(-1)
}

int ot_runtime_manual_seed(uint64_t seed) {
  OT_TRY
  at::manual_seed(seed);
  return 0;
  OT_CATCH(-1)
}

int ot_runtime_cuda_device_count(void) {
  OT_TRY
  return at::hasCUDA() ? static_cast<int>(at::detail::getCUDAHooks().getNumGPUs()) : 0;
  OT_CATCH(-1)
}

int ot_runtime_set_cuda_math(int32_t allow_tf32) {
  OT_TRY
  // TF32 rounds convolution and matmul inputs to 10 mantissa bits on Ampere and later GPUs;
  // libtorch enables it for cuDNN convolutions by default. BackSelect compares scores that differ
  // in the 8th digit, so it is off unless asked for. cuDNN picks deterministic algorithms and
  // does not benchmark (the benchmark may pick a different one per run).
  auto& ctx = at::globalContext();
  ctx.setAllowTF32CuDNN(allow_tf32 != 0);
  ctx.setAllowTF32CuBLAS(allow_tf32 != 0);
  ctx.setBenchmarkCuDNN(false);
  ctx.setDeterministicCuDNN(true);
  return 0;
  OT_CATCH(-1)
}

int ot_runtime_tf32_allowed(void) {
  OT_TRY
  return at::globalContext().allowTF32CuDNN() ? 1 : 0;
  OT_CATCH(-1)
}

int ot_runtime_has_cuda(void) {
  OT_TRY
  return at::hasCUDA() ? 1 : 0;
  OT_CATCH(-1)
}

const char* ot_runtime_version(void) { return TORCH_VERSION; }

// ---- autograd scopes ----------------------------------------------------------------------------
int ot_grad_set_enabled(int enabled) {
  OT_TRY
  int prev = c10::GradMode::is_enabled() ? 1 : 0;
  c10::GradMode::set_enabled(enabled != 0);
  return prev;
  OT_CATCH(-1)
}

int ot_grad_is_enabled(void) { return c10::GradMode::is_enabled() ? 1 : 0; }

ot_guard ot_guard_inference_mode(void) {
  OT_TRY
  return reinterpret_cast<ot_guard>(new c10::InferenceMode());
  OT_CATCH(nullptr)
}

void ot_guard_free(ot_guard g) { delete reinterpret_cast<c10::InferenceMode*>(g); }

// ---- creation, export ---------------------------------------------------------------------------
ot_tensor ot_tensor_from_blob(const void* data, const int64_t* shape, int32_t ndim, int32_t dtype) {
  OT_TRY
  auto t = at::empty(ints(shape, ndim), opts(dtype, -1));
  size_t nbytes = t.numel() * t.element_size();
  if (nbytes > 0) {
    if (data == nullptr) throw std::invalid_argument("null data pointer");
    std::memcpy(t.data_ptr(), data, nbytes);
  }
  return wrap(t);
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_zeros(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device) {
  OT_TRY
  return wrap(at::zeros(ints(shape, ndim), opts(dtype, device)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_ones(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device) {
  OT_TRY
  return wrap(at::ones(ints(shape, ndim), opts(dtype, device)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_full(const int64_t* shape, int32_t ndim, double value, int32_t dtype, int32_t device) {
  OT_TRY
  return wrap(at::full(ints(shape, ndim), value, opts(dtype, device)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_randn(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device) {
  OT_TRY
  return wrap(at::randn(ints(shape, ndim), opts(dtype, device)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_rand(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device) {
  OT_TRY
  return wrap(at::rand(ints(shape, ndim), opts(dtype, device)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_randint(int64_t low, int64_t high, const int64_t* shape, int32_t ndim, int32_t device) {
  OT_TRY
  return wrap(at::randint(low, high, ints(shape, ndim), opts(2, device)));
  OT_CATCH(nullptr)
}

struct ot_generator_opaque {
  at::Generator gen;
};

ot_generator ot_generator_new(uint64_t seed) {
  OT_TRY
  return new ot_generator_opaque{at::detail::createCPUGenerator(seed)};
  OT_CATCH(nullptr)
}

void ot_generator_free(ot_generator g) { delete g; }

ot_tensor ot_tensor_random_from(ot_generator g, int32_t normal, const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device) {
  OT_TRY
  if (!g) throw std::invalid_argument("ot_tensor_random_from: no generator");
  auto cpu = opts(dtype, -1);
  at::Tensor t = normal ? at::randn(ints(shape, ndim), g->gen, cpu) : at::rand(ints(shape, ndim), g->gen, cpu);
  return wrap(device < 0 ? t : t.to(to_device(device)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_arange(int64_t start, int64_t end, int64_t step, int32_t dtype, int32_t device) {
  OT_TRY
  return wrap(at::arange(start, end, step, opts(dtype, device)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_scalar(double value, int32_t dtype) {
  OT_TRY
  return wrap(at::scalar_tensor(value, opts(dtype, -1)));
  OT_CATCH(nullptr)
}

void ot_tensor_free(ot_tensor t) {
  if (t == nullptr) return;
  delete reinterpret_cast<Holder*>(t);
  g_live.fetch_sub(1, std::memory_order_relaxed);
  --g_live_thread;
}

int ot_tensor_copy_to(ot_tensor t, void* dst, int64_t nbytes) {
  OT_TRY
  auto c = T(t).detach().to(at::kCPU).contiguous();
  int64_t have = c.numel() * c.element_size();
  if (have != nbytes)
    throw std::invalid_argument("copy_to: tensor has " + std::to_string(have) + " bytes, buffer " +
                                std::to_string(nbytes));
  if (nbytes > 0) std::memcpy(dst, c.data_ptr(), nbytes);
  return 0;
  OT_CATCH(-1)
}

void* ot_tensor_data_ptr(ot_tensor t) {
  OT_TRY
  auto& d = T(t);
  if (!d.is_cpu() || !d.is_contiguous()) throw std::invalid_argument("data_ptr needs a contiguous CPU tensor");
  return d.data_ptr();
  OT_CATCH(nullptr)
}

// ---- metadata -----------------------------------------------------------------------------------
int32_t ot_tensor_ndim(ot_tensor t) {
  OT_TRY
  return static_cast<int32_t>(T(t).dim());
  OT_CATCH(-1)
}

int ot_tensor_shape(ot_tensor t, int64_t* out) {
  OT_TRY
  auto s = T(t).sizes();
  for (size_t i = 0; i < s.size(); ++i) out[i] = s[i];
  return 0;
  OT_CATCH(-1)
}

int ot_tensor_strides(ot_tensor t, int64_t* out) {
  OT_TRY
  auto s = T(t).strides();
  for (size_t i = 0; i < s.size(); ++i) out[i] = s[i];
  return 0;
  OT_CATCH(-1)
}

int32_t ot_tensor_dtype(ot_tensor t) {
  OT_TRY
  return from_dtype(T(t).scalar_type());
  OT_CATCH(-1)
}

int32_t ot_tensor_device(ot_tensor t) {
  OT_TRY
  auto d = T(t).device();
  return d.is_cpu() ? -1 : static_cast<int32_t>(d.index());
  OT_CATCH(-2)
}

int64_t ot_tensor_numel(ot_tensor t) {
  OT_TRY
  return T(t).numel();
  OT_CATCH(-1)
}

int ot_tensor_is_contiguous(ot_tensor t) {
  OT_TRY
  return T(t).is_contiguous() ? 1 : 0;
  OT_CATCH(-1)
}

double ot_tensor_item(ot_tensor t) {
  OT_TRY
  return T(t).item<double>();
  OT_CATCH(std::nan(""))
}

// ---- conversion, layout -------------------------------------------------------------------------
ot_tensor ot_tensor_to(ot_tensor t, int32_t dtype, int32_t device) {
  OT_TRY
  return wrap(T(t).to(to_device(device), to_dtype(dtype)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_contiguous(ot_tensor t, int channels_last) {
  OT_TRY
  auto fmt = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  return wrap(T(t).contiguous(fmt));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_detach(ot_tensor t) {
  OT_TRY
  return wrap(T(t).detach());
  OT_CATCH(nullptr)
}

int ot_tensor_copy_(ot_tensor dst, ot_tensor src) {
  OT_TRY
  at::NoGradGuard ng;
  T(dst).copy_(T(src));
  return 0;
  OT_CATCH(-1)
}

// ---- shape --------------------------------------------------------------------------------------
ot_tensor ot_tensor_reshape(ot_tensor t, const int64_t* shape, int32_t ndim) {
  OT_TRY
  return wrap(T(t).reshape(ints(shape, ndim)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_permute(ot_tensor t, const int64_t* dims, int32_t ndim) {
  OT_TRY
  return wrap(T(t).permute(ints(dims, ndim)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_expand(ot_tensor t, const int64_t* shape, int32_t ndim) {
  OT_TRY
  return wrap(T(t).expand(ints(shape, ndim)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_flatten(ot_tensor t, int64_t start, int64_t end) {
  OT_TRY
  return wrap(T(t).flatten(start, end));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_slice(ot_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step) {
  OT_TRY
  return wrap(T(t).slice(dim, start, end, step));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_select(ot_tensor t, int64_t dim, int64_t index) {
  OT_TRY
  return wrap(T(t).select(dim, index));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_index_select(ot_tensor t, int64_t dim, ot_tensor index) {
  OT_TRY
  return wrap(T(t).index_select(dim, T(index)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_masked_fill(ot_tensor t, ot_tensor mask, double value) {
  OT_TRY
  return wrap(T(t).masked_fill(T(mask), value));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_where(ot_tensor cond, ot_tensor a, ot_tensor b) {
  OT_TRY
  return wrap(at::where(T(cond), T(a), T(b)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_gather(ot_tensor t, int64_t dim, ot_tensor index) {
  OT_TRY
  return wrap(T(t).gather(dim, T(index)));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_cat(const ot_tensor* ts, int32_t n, int64_t dim) {
  OT_TRY
  return wrap(at::cat(tensors(ts, n), dim));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_stack(const ot_tensor* ts, int32_t n, int64_t dim) {
  OT_TRY
  return wrap(at::stack(tensors(ts, n), dim));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_pad(ot_tensor t, const int64_t* pad, int32_t npad, double value) {
  OT_TRY
  return wrap(at::constant_pad_nd(T(t), ints(pad, npad), value));
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_flip(ot_tensor t, const int64_t* dims, int32_t ndim) {
  OT_TRY
  return wrap(T(t).flip(ints(dims, ndim)));
  OT_CATCH(nullptr)
}

// ---- elementwise --------------------------------------------------------------------------------
ot_tensor ot_tensor_binary(int32_t op, ot_tensor a, ot_tensor b) {
  OT_TRY
  const auto& x = T(a);
  const auto& y = T(b);
  switch (op) {
    case 0: return wrap(x + y);
    case 1: return wrap(x - y);
    case 2: return wrap(x * y);
    case 3: return wrap(x / y);
    case 4: return wrap(x.pow(y));
    case 5: return wrap(at::maximum(x, y));
    case 6: return wrap(at::minimum(x, y));
    case 7: return wrap(x.eq(y));
    case 8: return wrap(x.ne(y));
    case 9: return wrap(x.lt(y));
    case 10: return wrap(x.le(y));
    case 11: return wrap(x.gt(y));
    case 12: return wrap(x.ge(y));
    default: throw std::invalid_argument("unknown binary op " + std::to_string(op));
  }
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_binary_scalar(int32_t op, ot_tensor a, double b) {
  OT_TRY
  const auto& x = T(a);
  at::Scalar s(b);
  switch (op) {
    case 0: return wrap(x + s);
    case 1: return wrap(x - s);
    case 2: return wrap(x * s);
    case 3: return wrap(x / s);
    case 4: return wrap(x.pow(s));
    case 5: return wrap(x.clamp_min(s));
    case 6: return wrap(x.clamp_max(s));
    case 7: return wrap(x.eq(s));
    case 8: return wrap(x.ne(s));
    case 9: return wrap(x.lt(s));
    case 10: return wrap(x.le(s));
    case 11: return wrap(x.gt(s));
    case 12: return wrap(x.ge(s));
    default: throw std::invalid_argument("unknown binary op " + std::to_string(op));
  }
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_unary(int32_t op, ot_tensor t) {
  OT_TRY
  const auto& x = T(t);
  switch (op) {
    case 0: return wrap(-x);
    case 1: return wrap(x.exp());
    case 2: return wrap(x.log());
    case 3: return wrap(x.sqrt());
    case 4: return wrap(x.abs());
    case 5: return wrap(at::relu(x));
    case 6: return wrap(x.sigmoid());
    case 7: return wrap(x.tanh());
    case 8: return wrap(x.isnan());
    case 9: return wrap(x.logical_not());
    case 10: return wrap(at::hardtanh(x, 0.0, 6.0));
    case 11: return wrap(x.floor());
    case 12: return wrap(x.round());
    case 13: return wrap(x.sign());
    case 14: return wrap(x.reciprocal());
    case 15: return wrap(x.isfinite());
    default: throw std::invalid_argument("unknown unary op " + std::to_string(op));
  }
  OT_CATCH(nullptr)
}

int ot_tensor_add_(ot_tensor dst, ot_tensor src, double alpha) {
  OT_TRY
  auto& d = T(dst);
  if (at::isIntegralType(d.scalar_type(), true))
    d.add_(T(src), static_cast<int64_t>(alpha));
  else
    d.add_(T(src), alpha);
  return 0;
  OT_CATCH(-1)
}

int ot_tensor_fill_(ot_tensor dst, double v) {
  OT_TRY
  T(dst).fill_(v);
  return 0;
  OT_CATCH(-1)
}

// ---- reductions ---------------------------------------------------------------------------------
ot_tensor ot_tensor_reduce(int32_t op, ot_tensor t, const int64_t* dims, int32_t ndim, int keepdim) {
  OT_TRY
  const auto& x = T(t);
  bool kd = keepdim != 0;
  if (ndim == 0) {
    switch (op) {
      case 0: return wrap(x.sum());
      case 1: return wrap(x.mean());
      case 2: return wrap(x.max());
      case 3: return wrap(x.min());
      case 4: return wrap(x.prod());
      case 5: return wrap(x.std());
      case 6: return wrap(x.var());
      default: throw std::invalid_argument("unknown reduction " + std::to_string(op));
    }
  }
  auto d = ints(dims, ndim);
  switch (op) {
    case 0: return wrap(x.sum(d, kd));
    case 1: return wrap(x.mean(d, kd));
    case 2: {
      if (ndim != 1) return wrap(at::amax(x, d, kd));
      return wrap(std::get<0>(x.max(d[0], kd)));
    }
    case 3: {
      if (ndim != 1) return wrap(at::amin(x, d, kd));
      return wrap(std::get<0>(x.min(d[0], kd)));
    }
    case 4: {
      if (ndim != 1) throw std::invalid_argument("prod reduces over one dimension at a time");
      return wrap(x.prod(d[0], kd));
    }
    case 5: return wrap(x.std(d, true, kd));
    case 6: return wrap(x.var(d, true, kd));
    default: throw std::invalid_argument("unknown reduction " + std::to_string(op));
  }
  OT_CATCH(nullptr)
}

ot_tensor ot_tensor_argmax(ot_tensor t, int64_t dim, int keepdim) {
  OT_TRY
  return wrap(T(t).argmax(dim, keepdim != 0));
  OT_CATCH(nullptr)
}

int ot_tensor_topk(ot_tensor t, int64_t k, int64_t dim, int largest, ot_tensor* values, ot_tensor* indices) {
  OT_TRY
  auto r = T(t).topk(k, dim, largest != 0, true);
  *values = wrap(std::get<0>(r));
  *indices = wrap(std::get<1>(r));
  return 0;
  OT_CATCH(-1)
}

int ot_tensor_sort(ot_tensor t, int64_t dim, int descending, int stable, ot_tensor* values, ot_tensor* indices) {
  OT_TRY
  auto r = T(t).sort(stable != 0, dim, descending != 0);
  *values = wrap(std::get<0>(r));
  *indices = wrap(std::get<1>(r));
  return 0;
  OT_CATCH(-1)
}

// ---- linear algebra, nn -------------------------------------------------------------------------
ot_tensor ot_tensor_matmul(ot_tensor a, ot_tensor b) {
  OT_TRY
  return wrap(at::matmul(T(a), T(b)));
  OT_CATCH(nullptr)
}

ot_tensor ot_nn_linear(ot_tensor x, ot_tensor w, ot_tensor b) {
  OT_TRY
  c10::optional<at::Tensor> bias;
  if (b) bias = T(b);
  return wrap(at::linear(T(x), T(w), bias));
  OT_CATCH(nullptr)
}

ot_tensor ot_nn_conv2d(ot_tensor x, ot_tensor w, ot_tensor b, const int64_t* stride, const int64_t* padding,
                       const int64_t* dilation, int64_t groups) {
  OT_TRY
  c10::optional<at::Tensor> bias;
  if (b) bias = T(b);
  return wrap(at::conv2d(T(x), T(w), bias, ints(stride, 2), ints(padding, 2), ints(dilation, 2), groups));
  OT_CATCH(nullptr)
}

ot_tensor ot_nn_batch_norm(ot_tensor x, ot_tensor w, ot_tensor b, ot_tensor running_mean, ot_tensor running_var,
                           int training, double momentum, double eps) {
  OT_TRY
  c10::optional<at::Tensor> weight, bias, rm, rv;
  if (w) weight = T(w);
  if (b) bias = T(b);
  if (running_mean) rm = T(running_mean);
  if (running_var) rv = T(running_var);
  return wrap(at::batch_norm(T(x), weight, bias, rm, rv, training != 0, momentum, eps, true));
  OT_CATCH(nullptr)
}

ot_tensor ot_nn_max_pool2d(ot_tensor x, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                           int ceil_mode) {
  OT_TRY
  const int64_t one[2] = {1, 1};
  return wrap(at::max_pool2d(T(x), ints(kernel, 2), ints(stride, 2), ints(padding, 2), ints(one, 2), ceil_mode != 0));
  OT_CATCH(nullptr)
}

ot_tensor ot_nn_avg_pool2d(ot_tensor x, const int64_t* kernel, const int64_t* stride, const int64_t* padding,
                           int ceil_mode, int count_include_pad) {
  OT_TRY
  return wrap(at::avg_pool2d(T(x), ints(kernel, 2), ints(stride, 2), ints(padding, 2), ceil_mode != 0,
                             count_include_pad != 0));
  OT_CATCH(nullptr)
}

ot_tensor ot_nn_adaptive_avg_pool2d(ot_tensor x, int64_t oh, int64_t ow) {
  OT_TRY
  const int64_t s[2] = {oh, ow};
  return wrap(at::adaptive_avg_pool2d(T(x), ints(s, 2)));
  OT_CATCH(nullptr)
}

ot_tensor ot_nn_dropout(ot_tensor x, double p, int training) {
  OT_TRY
  return wrap(at::dropout(T(x), p, training != 0));
  OT_CATCH(nullptr)
}

ot_tensor ot_nn_softmax(ot_tensor x, int64_t dim) {
  OT_TRY
  return wrap(at::softmax(T(x), dim));
  OT_CATCH(nullptr)
}

ot_tensor ot_nn_log_softmax(ot_tensor x, int64_t dim) {
  OT_TRY
  return wrap(at::log_softmax(T(x), dim));
  OT_CATCH(nullptr)
}

ot_tensor ot_nn_cross_entropy(ot_tensor logits, ot_tensor targets, int32_t reduction, double label_smoothing) {
  OT_TRY
  if (reduction < 0 || reduction > 2) throw std::invalid_argument("unknown reduction " + std::to_string(reduction));
  return wrap(at::cross_entropy_loss(T(logits), T(targets), c10::nullopt, reduction, -100, label_smoothing));
  OT_CATCH(nullptr)
}

// ---- autograd -----------------------------------------------------------------------------------
int ot_tensor_set_requires_grad(ot_tensor t, int requires_grad) {
  OT_TRY
  T(t).set_requires_grad(requires_grad != 0);
  return 0;
  OT_CATCH(-1)
}

int ot_tensor_requires_grad(ot_tensor t) {
  OT_TRY
  return T(t).requires_grad() ? 1 : 0;
  OT_CATCH(-1)
}

int ot_tensor_backward(ot_tensor t) {
  OT_TRY
  T(t).backward();
  return 0;
  OT_CATCH(-1)
}

int ot_tensor_grad(ot_tensor t, ot_tensor* out) {
  OT_TRY
  *out = nullptr;
  const auto& g = T(t).grad();
  if (g.defined()) *out = wrap(g);
  return 0;
  OT_CATCH(-1)
}

int ot_tensor_zero_grad(ot_tensor t) {
  OT_TRY
  auto& g = T(t).mutable_grad();
  if (g.defined()) g = at::Tensor();
  return 0;
  OT_CATCH(-1)
}

int ot_autograd_grad(ot_tensor output, const ot_tensor* inputs, int32_t n, ot_tensor* out_grads) {
  OT_TRY
  auto out = T(output);
  if (out.numel() != 1) out = out.sum();
  auto grads = torch::autograd::grad({out}, tensors(inputs, n), {}, c10::nullopt, false, true);
  for (int32_t i = 0; i < n; ++i) out_grads[i] = grads[i].defined() ? wrap(grads[i]) : nullptr;
  return 0;
  OT_CATCH(-1)
}

// ---- optimizers ---------------------------------------------------------------------------------
int ot_optim_sgd_step(const ot_tensor* params, const ot_tensor* bufs, int32_t n, double lr, double momentum,
                      double dampening, double weight_decay, int nesterov, int first) {
  OT_TRY
  at::NoGradGuard ng;
  for (int32_t i = 0; i < n; ++i) {
    auto& p = T(params[i]);
    const auto& g = p.grad();
    if (!g.defined()) continue;
    at::Tensor d = g;
    if (weight_decay != 0) d = d.add(p, weight_decay);
    if (momentum != 0) {
      auto& buf = T(bufs[i]);
      if (first) {
        buf.copy_(d);
      } else {
        buf.mul_(momentum).add_(d, 1 - dampening);
      }
      d = nesterov ? d.add(buf, momentum) : buf;
    }
    p.add_(d, -lr);
  }
  return 0;
  OT_CATCH(-1)
}

}  // extern "C"
