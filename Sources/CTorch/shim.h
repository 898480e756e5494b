// shim.h: what the shim's translation units share (not part of the C ABI): the error slot, the
// exception-catching macros, and the tensor handle.
#ifndef CTORCH_SHIM_H
#define CTORCH_SHIM_H

#include "ctorch.h"

#include <ATen/ATen.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>

namespace ot_shim {

extern thread_local char* g_last_error;
extern std::atomic<int64_t> g_live;
extern thread_local int64_t g_live_thread;

// Stores a copy of msg as the calling thread's last error.
void set_error(const char* msg);

struct Holder {
  at::Tensor t;
};

inline at::Tensor& T(ot_tensor h) {
  if (h == nullptr) throw std::invalid_argument("null tensor handle");
  return reinterpret_cast<Holder*>(h)->t;
}

inline ot_tensor wrap(at::Tensor t) {
  auto* h = new Holder{std::move(t)};
  g_live.fetch_add(1, std::memory_order_relaxed);
  ++g_live_thread;
  return reinterpret_cast<ot_tensor>(h);
}

inline at::Device to_device(int32_t code) {
  if (code < 0) return at::Device(at::kCPU);
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(code));
}

}  // namespace ot_shim

#define OT_TRY try {
#define OT_CATCH(sentinel)                                              \
  }                                                                     \
  catch (const c10::Error& e) {                                         \
    ot_shim::set_error(e.what_without_backtrace());                     \
    return sentinel;                                                    \
  }                                                                     \
  catch (const std::exception& e) {                                     \
    ot_shim::set_error(e.what());                                       \
    return sentinel;                                                    \
  }                                                                     \
  catch (...) {                                                         \
    ot_shim::set_error("unknown C++ exception in libtorch shim");       \
    return sentinel;                                                    \
  }

#endif
