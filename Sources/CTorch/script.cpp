// script.cpp: TorchScript modules (torch::jit::load), kept apart from ctorch.cpp because the JIT
// headers are heavy to compile.
#include "ctorch.h"
#include "shim.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>

#include <string>

using namespace ot_shim;

namespace {

struct ScriptHolder {
  torch::jit::Module module;
};

torch::jit::Module& M(ot_script h) {
  if (h == nullptr) throw std::invalid_argument("null TorchScript module handle");
  return reinterpret_cast<ScriptHolder*>(h)->module;
}

}  // namespace

extern "C" {

ot_script ot_script_load(const char* path, int32_t device) {
  OT_TRY
  if (path == nullptr) throw std::invalid_argument("null path");
  auto module = torch::jit::load(std::string(path), to_device(device));
  module.eval();
  return reinterpret_cast<ot_script>(new ScriptHolder{std::move(module)});
  OT_CATCH(nullptr)
}

void ot_script_free(ot_script m) { delete reinterpret_cast<ScriptHolder*>(m); }

ot_tensor ot_script_forward(ot_script m, ot_tensor x) {
  OT_TRY
  std::vector<c10::IValue> inputs{T(x)};
  auto out = M(m).forward(inputs);
  if (!out.isTensor()) {
    std::string what = out.tagKind();
    if (out.isTuple()) what = "a tuple of " + std::to_string(out.toTupleRef().elements().size()) + " values";
    if (out.isList()) what = "a list of " + std::to_string(out.toListRef().size()) + " values";
    if (out.isGenericDict()) what = "a dict of " + std::to_string(out.toGenericDict().size()) + " entries";
    throw std::runtime_error("the model's forward returned " + what + ", not a tensor of logits");
  }
  return wrap(out.toTensor());
  OT_CATCH(nullptr)
}

}  // extern "C"
