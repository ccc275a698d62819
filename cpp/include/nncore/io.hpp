#pragma once
// Model files. A model is saved as one safetensors file (https://github.com/huggingface/safetensors):
//   8 bytes: little-endian u64 N; N bytes: a JSON header; then the tensor bytes.
// Every weight is a float32 tensor named "<layer name>/<weight name>"; with the optimizer, its state is
// "optimizer/<layer name>/<weight name>/<slot>". The header's "__metadata__" (string values, as the format
// requires) holds "format" = "nncore", "format_version", "model_config" (the architecture as JSON),
// "compile_config" (loss, metrics, optimizer) and "optimizer_iterations".
// The metadata also holds "nncore_checksum": a 64-bit FNV-1a hash of the whole file with that value's 16 hex
// digits read as zeros, so any corruption (a flipped bit in the weights too) is detected on load.
// Writing is atomic: a temporary file in the same folder, flushed, then renamed over the target, so a crash
// never leaves a half-written file at the path. Reading validates everything before it is used (header length,
// JSON, dtypes, shapes, offsets; the architecture may not ask for more weights than the file holds) and throws
// ModelFileError naming the file and the problem.
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nncore/json.hpp"
#include "nncore/model.hpp"
#include "nncore/optimizers.hpp"

namespace nncore {

// A model or weights file that cannot be read: missing, truncated, corrupted, or not matching the model.
class ModelFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// 1: functional configs list each layer's one call in its "inbound"; 2: a "nodes" list of calls (shared layers,
// several outputs). Both are read.
inline constexpr int kModelFormatVersion = 2;

// Limits on what a model file may ask of the loader, checked before anything is built (a file over one raises
// ModelFileError naming it), so loading stays linear in the file's size and bounded for untrusted files:
inline constexpr int64_t kMaxModelLayers = 100000;       // layers (and inputs) in one model
inline constexpr int64_t kMaxConfigBytes = 16 << 20;      // model_config and compile_config, each
inline constexpr int kMaxConfigDepth = 64;                // JSON nesting depth of a config

// ---- configs ------------------------------------------------------------------------------------------------
// {"class_name": ..., "config": layer.config()}
Json layer_spec(const Layer& layer);
// Builds a layer from a spec through the registry of every layer class (cpp/src/io/registry.cpp).
LayerPtr layer_from_config(const Json& spec);
std::vector<std::string> layer_class_names();
Json schedule_spec(const LearningRateSchedule& schedule);
std::shared_ptr<LearningRateSchedule> schedule_from_config(const Json& spec);
Json optimizer_spec(const Optimizer& optimizer);
std::shared_ptr<Optimizer> optimizer_from_config(const Json& spec);

// ---- safetensors ----------------------------------------------------------------------------------------------
struct NamedTensor {
  std::string name;
  Tensor tensor;
  bool int8 = false;  // stored as I8 (a quantized weight; read into float32)
};

// A tensor to write: F32, or I8 for a quantized weight whose float32 values are integers in [-128, 127].
struct TensorToWrite {
  std::string name;
  const Tensor* tensor;
  bool int8 = false;
};

struct TensorFile {
  std::vector<NamedTensor> tensors;  // in file order
  std::vector<std::pair<std::string, std::string>> metadata;  // without nncore_checksum
  bool checksummed = false;  // the file carried an nncore_checksum (and it matched)
  std::unordered_map<std::string, size_t> index;  // name -> position in tensors (the reader fills it)
  const Tensor* find(const std::string& name) const;
  const std::string* meta(const std::string& key) const;
};

// Writes F32 (and I8) tensors, string metadata and the checksum atomically (see above).
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata);
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata);
// Reads and validates a safetensors file holding F32 and I8 tensors (I8 read into float32, NamedTensor::int8);
// verifies nncore_checksum when present.
TensorFile read_safetensors(const std::string& path);
// The same from bytes in memory; `source` names them in errors.
TensorFile parse_safetensors(const std::string& bytes, const std::string& source);

// ---- models -------------------------------------------------------------------------------------------------
// Architecture + weights (+ compile settings and, with include_optimizer, the optimizer state).
void save_model(Model& model, const std::string& path, bool include_optimizer = true);
// compile=false skips the compile settings even when the file has them.
std::unique_ptr<Model> load_model(const std::string& path, bool compile = true);
// The same from the bytes of a model file in memory (embedded in a program, received over a network); `source`
// names them in errors.
std::unique_ptr<Model> load_model_from_memory(const std::string& bytes, bool compile = true,
                                              const std::string& source = "<memory>");
// Weights alone. load_weights matches "<layer>/<weight>" names: a name the model lacks or a weight the file lacks
// is an error listing them. by_name=false takes the file's weight tensors in file order instead (nncore writes
// them in model order), for a model of the same architecture whose layers are named differently.
void save_weights(Model& model, const std::string& path);
void load_weights(Model& model, const std::string& path, bool by_name = true);
// The optimizer state (slots and iteration count) of a model file into a compiled model of the same architecture
// whose weights were loaded from it: in file order, as load_weights(by_name=false). Resuming training from a backup.
void load_optimizer_state(Model& model, const std::string& path);

// The architecture alone and back. Sequential: {"class_name", "name", "input_shape" (null: unbuilt), "layers":
// [specs]}; Functional: {"class_name", "name", "inputs": [{"name", "shape"}], "layers": [specs, each layer once],
// "nodes": [{"layer": name, "inbound": [refs]}, one per call, in an order where each reads only earlier ones],
// "outputs": [refs]}, a ref being Keras's [layer or input name, call index, output index].
Json model_config(const Model& model);
std::unique_ptr<Model> model_from_config(const Json& config);

}  // namespace nncore
