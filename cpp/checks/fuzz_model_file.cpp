// libFuzzer target: the model-file loader on arbitrary bytes. Every input must either load (and then describe
// itself and run a small batch) or raise ModelFileError; anything else — a crash, a sanitizer report, another
// exception type, a hang or a runaway allocation — is a finding. Built by NNCORE_BUILD_FUZZERS=ON with clang
// (tools/fuzz_model_file.sh); the library is then compiled with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, which
// ignores the checksum's verdict so mutations get past it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "nncore/nncore.hpp"

namespace {

// Runs one tiny batch through a loaded model when its input is small: the forward pass sees every layer the file
// built. Inputs are bounded so a legitimately huge architecture is not mistaken for a leak.
void exercise(nncore::Model& model) {
  if (model.num_inputs() != 1 || !model.built()) return;
  const nncore::Shape& in = model.input_shape(0);
  int64_t numel = 1;
  for (int64_t d : in) {
    if (d <= 0 || d > 4096) return;
    numel *= d;
    if (numel > 4096) return;
  }
  // Every layer's output, not just the model's: a padding layer followed by a pooling one can ask for gigabytes
  // in between, which is a big model, not a loader bug.
  int64_t total = 0;
  for (const auto& layer : model.layers()) {
    int64_t out = 1;
    for (int64_t d : layer->output_shape()) {
      if (d <= 0 || d > (int64_t{1} << 20)) return;
      out *= d;
      if (out > (int64_t{1} << 20)) return;
    }
    total += out;
    if (total > (int64_t{1} << 22)) return;
  }
  nncore::Shape shape{2};
  shape.insert(shape.end(), in.begin(), in.end());
  nncore::Tensor x(shape);
  for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i % 7) * 0.25f;
  try {
    model.predict(x, 2);
  } catch (const std::invalid_argument&) {
    // A layer that refuses this input (e.g. Embedding ids out of range) says so: fine.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<nncore::Model> model;
  try {
    model = nncore::load_model_from_memory(bytes, true, "fuzz input");
  } catch (const nncore::ModelFileError&) {
    return 0;  // refused with the loader's error: the expected outcome for almost every input
  }
  (void)nncore::model_config(*model).dump();
  exercise(*model);
  return 0;
}
