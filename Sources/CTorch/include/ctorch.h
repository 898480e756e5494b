// ctorch.h: the C ABI of overinterp's thin shim over libtorch.
//
// Conventions (see docs/ARCHITECTURE.md):
// - Every function catches all C++ exceptions. On failure it stores the message in a
//   thread-local slot (read it with ot_last_error) and returns a sentinel: NULL for handles,
//   a negative value for status codes.
// - A returned ot_tensor is owned by the caller and must be freed with ot_tensor_free.
// - Functions that change a tensor in place end in an underscore.
// - dtype codes: 0 uint8, 1 int32, 2 int64, 3 float16, 4 float32, 5 float64, 6 bfloat16, 7 bool.
// - device codes: -1 CPU, n >= 0 CUDA device n.
#ifndef CTORCH_H
#define CTORCH_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ot_tensor_opaque* ot_tensor;
typedef struct ot_guard_opaque* ot_guard;
typedef struct ot_generator_opaque* ot_generator;

// ---- errors, runtime --------------------------------------------------------------------------
const char* ot_last_error(void);
void ot_clear_error(void);
int64_t ot_live_tensors(void);
// Handles created minus handles freed on the calling thread (for leak tests run in parallel).
int64_t ot_live_tensors_thread(void);
int ot_runtime_configure_allocator(void);
int ot_runtime_set_threads(int32_t n);
int32_t ot_runtime_get_threads(void);
int ot_runtime_manual_seed(uint64_t seed);
int ot_runtime_cuda_device_count(void);
/// 1 when the linked libtorch was built with CUDA (whether or not a device is visible), 0 if not, -1 on error.
int ot_runtime_has_cuda(void);
/// TF32 for cuDNN and cuBLAS on (1) or off (0); cuDNN deterministic, not benchmarking. 0 or -1.
int ot_runtime_set_cuda_math(int32_t allow_tf32);
/// 1 when TF32 is allowed for cuDNN convolutions, 0 if not, -1 on error.
int ot_runtime_tf32_allowed(void);
const char* ot_runtime_version(void);

// ---- autograd scopes ----------------------------------------------------------------------------
// ot_grad_set_enabled returns the previous state (0/1) or -1 on error.
int ot_grad_set_enabled(int enabled);
int ot_grad_is_enabled(void);
// Inference mode is an RAII guard on the calling thread; free guards in reverse order.
ot_guard ot_guard_inference_mode(void);
void ot_guard_free(ot_guard g);

// ---- creation, export ---------------------------------------------------------------------------
ot_tensor ot_tensor_from_blob(const void* data, const int64_t* shape, int32_t ndim, int32_t dtype);
ot_tensor ot_tensor_zeros(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device);
ot_tensor ot_tensor_ones(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device);
ot_tensor ot_tensor_full(const int64_t* shape, int32_t ndim, double value, int32_t dtype, int32_t device);
ot_tensor ot_tensor_randn(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device);
ot_tensor ot_tensor_rand(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device);
ot_tensor ot_tensor_randint(int64_t low, int64_t high, const int64_t* shape, int32_t ndim, int32_t device);
/// A private CPU generator (libtorch's Mersenne twister) seeded with `seed`: the same stream as the
/// default CPU generator after ot_runtime_manual_seed(seed), untouched by other threads' draws.
ot_generator ot_generator_new(uint64_t seed);
void ot_generator_free(ot_generator g);
/// Samples drawn on the CPU from `g` (N(0, 1) when normal is 1, U[0, 1) when 0), then moved to `device`.
ot_tensor ot_tensor_random_from(ot_generator g, int32_t normal, const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device);
ot_tensor ot_tensor_arange(int64_t start, int64_t end, int64_t step, int32_t dtype, int32_t device);
ot_tensor ot_tensor_scalar(double value, int32_t dtype);
void ot_tensor_free(ot_tensor t);
// Copies the tensor (made contiguous, on CPU) into dst, which must hold nbytes bytes exactly.
int ot_tensor_copy_to(ot_tensor t, void* dst, int64_t nbytes);
// Pointer to the data of a contiguous CPU tensor (borrowed; valid while the tensor lives).
void* ot_tensor_data_ptr(ot_tensor t);

// ---- metadata -----------------------------------------------------------------------------------
int32_t ot_tensor_ndim(ot_tensor t);
int ot_tensor_shape(ot_tensor t, int64_t* out);   // out holds ndim values
int ot_tensor_strides(ot_tensor t, int64_t* out);
int32_t ot_tensor_dtype(ot_tensor t);
int32_t ot_tensor_device(ot_tensor t);
int64_t ot_tensor_numel(ot_tensor t);
int ot_tensor_is_contiguous(ot_tensor t);
double ot_tensor_item(ot_tensor t);   // NaN with an error set on failure; check ot_last_error

// ---- conversion, layout -------------------------------------------------------------------------
ot_tensor ot_tensor_to(ot_tensor t, int32_t dtype, int32_t device);
ot_tensor ot_tensor_contiguous(ot_tensor t, int channels_last);
ot_tensor ot_tensor_detach(ot_tensor t);
int ot_tensor_copy_(ot_tensor dst, ot_tensor src);

// ---- shape --------------------------------------------------------------------------------------
ot_tensor ot_tensor_reshape(ot_tensor t, const int64_t* shape, int32_t ndim);
ot_tensor ot_tensor_permute(ot_tensor t, const int64_t* dims, int32_t ndim);
ot_tensor ot_tensor_expand(ot_tensor t, const int64_t* shape, int32_t ndim);
ot_tensor ot_tensor_flatten(ot_tensor t, int64_t start, int64_t end);
ot_tensor ot_tensor_slice(ot_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step);
ot_tensor ot_tensor_select(ot_tensor t, int64_t dim, int64_t index);
ot_tensor ot_tensor_index_select(ot_tensor t, int64_t dim, ot_tensor index);
ot_tensor ot_tensor_masked_fill(ot_tensor t, ot_tensor mask, double value);
ot_tensor ot_tensor_where(ot_tensor cond, ot_tensor a, ot_tensor b);
ot_tensor ot_tensor_gather(ot_tensor t, int64_t dim, ot_tensor index);
ot_tensor ot_tensor_cat(const ot_tensor* ts, int32_t n, int64_t dim);
ot_tensor ot_tensor_stack(const ot_tensor* ts, int32_t n, int64_t dim);
ot_tensor ot_tensor_pad(ot_tensor t, const int64_t* pad, int32_t npad, double value);
ot_tensor ot_tensor_flip(ot_tensor t, const int64_t* dims, int32_t ndim);

// ---- elementwise --------------------------------------------------------------------------------
// binary op codes: 0 add, 1 sub, 2 mul, 3 div, 4 pow, 5 maximum, 6 minimum,
//                  7 eq, 8 ne, 9 lt, 10 le, 11 gt, 12 ge
ot_tensor ot_tensor_binary(int32_t op, ot_tensor a, ot_tensor b);
ot_tensor ot_tensor_binary_scalar(int32_t op, ot_tensor a, double b);
// unary op codes: 0 neg, 1 exp, 2 log, 3 sqrt, 4 abs, 5 relu, 6 sigmoid, 7 tanh, 8 isnan,
//                 9 logical_not, 10 relu6, 11 floor, 12 round, 13 sign, 14 reciprocal, 15 isfinite
ot_tensor ot_tensor_unary(int32_t op, ot_tensor t);
// In place: dst = dst + alpha * src; dst = dst * s; dst.fill_(v); dst.zero_()
int ot_tensor_add_(ot_tensor dst, ot_tensor src, double alpha);
int ot_tensor_fill_(ot_tensor dst, double v);

// ---- reductions ---------------------------------------------------------------------------------
// reduction codes: 0 sum, 1 mean, 2 max, 3 min, 4 prod, 5 std (unbiased), 6 var (unbiased)
// dims == NULL (ndim 0) reduces over everything.
ot_tensor ot_tensor_reduce(int32_t op, ot_tensor t, const int64_t* dims, int32_t ndim, int keepdim);
ot_tensor ot_tensor_argmax(ot_tensor t, int64_t dim, int keepdim);
// topk: returns values and indices through out pointers
int ot_tensor_topk(ot_tensor t, int64_t k, int64_t dim, int largest, ot_tensor* values, ot_tensor* indices);
int ot_tensor_sort(ot_tensor t, int64_t dim, int descending, int stable, ot_tensor* values, ot_tensor* indices);

// ---- linear algebra, nn -------------------------------------------------------------------------
ot_tensor ot_tensor_matmul(ot_tensor a, ot_tensor b);
ot_tensor ot_nn_linear(ot_tensor x, ot_tensor w, ot_tensor b /* nullable */);
ot_tensor ot_nn_conv2d(ot_tensor x, ot_tensor w, ot_tensor b /* nullable */, const int64_t* stride,
                       const int64_t* padding, const int64_t* dilation, int64_t groups);
ot_tensor ot_nn_batch_norm(ot_tensor x, ot_tensor w, ot_tensor b, ot_tensor running_mean,
                           ot_tensor running_var, int training, double momentum, double eps);
ot_tensor ot_nn_max_pool2d(ot_tensor x, const int64_t* kernel, const int64_t* stride,
                           const int64_t* padding, int ceil_mode);
ot_tensor ot_nn_avg_pool2d(ot_tensor x, const int64_t* kernel, const int64_t* stride,
                           const int64_t* padding, int ceil_mode, int count_include_pad);
ot_tensor ot_nn_adaptive_avg_pool2d(ot_tensor x, int64_t oh, int64_t ow);
ot_tensor ot_nn_dropout(ot_tensor x, double p, int training);
ot_tensor ot_nn_softmax(ot_tensor x, int64_t dim);
ot_tensor ot_nn_log_softmax(ot_tensor x, int64_t dim);
// reduction: 0 none, 1 mean, 2 sum. targets are int64 class indices.
ot_tensor ot_nn_cross_entropy(ot_tensor logits, ot_tensor targets, int32_t reduction, double label_smoothing);

// ---- autograd -----------------------------------------------------------------------------------
int ot_tensor_set_requires_grad(ot_tensor t, int requires_grad);
int ot_tensor_requires_grad(ot_tensor t);
int ot_tensor_backward(ot_tensor t);
// Writes the gradient to *out (NULL when the tensor has none) and returns 0; -1 on error.
int ot_tensor_grad(ot_tensor t, ot_tensor* out);
int ot_tensor_zero_grad(ot_tensor t);
// d(sum(output))/d(input) for each input, without accumulating into .grad.
int ot_autograd_grad(ot_tensor output, const ot_tensor* inputs, int32_t n, ot_tensor* out_grads);

// ---- optimizers ---------------------------------------------------------------------------------
// One SGD step over n parameters, PyTorch semantics (torch.optim.SGD): d = g + wd*p;
// buf = momentum*buf + (1-dampening)*d (buf = d on the first step, signalled by first != 0);
// d = nesterov ? d + momentum*buf : buf; p -= lr*d. Parameters without a gradient are skipped.
int ot_optim_sgd_step(const ot_tensor* params, const ot_tensor* bufs, int32_t n, double lr,
                      double momentum, double dampening, double weight_decay, int nesterov, int first);

// ---- TorchScript modules ------------------------------------------------------------------------
// A TorchScript archive (torch.jit.save) loaded with torch::jit::load. Loading and calling one
// runs the code stored in the file: callers do so only with the user's consent.
typedef struct ot_script_opaque* ot_script;
ot_script ot_script_load(const char* path, int32_t device);
void ot_script_free(ot_script m);
// forward(x). The result must be a tensor; anything else is an error naming what was returned.
ot_tensor ot_script_forward(ot_script m, ot_tensor x);

#ifdef __cplusplus
}
#endif

#endif
