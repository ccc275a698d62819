// Loads a model saved from Python (model.save("m.nncore")) and prints its predictions for inputs stored as raw
// little-endian float32 (numpy: x.astype(np.float32).tofile("x.f32")), one line per sample.
//   ./infer m.nncore x.f32
#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <vector>

#include "nncore/nncore.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL.nncore INPUTS.f32\n", argv[0]);
    return 2;
  }
  try {
    std::unique_ptr<nncore::Model> model = nncore::load_model(argv[1]);
    std::printf("%s", model->summary().c_str());

    // The inputs: as many samples of the model's input shape as the file holds.
    std::ifstream in(argv[2], std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const int64_t per_sample = nncore::shape_numel(model->input_shape());
    const int64_t n = static_cast<int64_t>(bytes.size() / sizeof(float)) / per_sample;
    if (n == 0 || static_cast<int64_t>(bytes.size()) != n * per_sample * static_cast<int64_t>(sizeof(float))) {
      std::fprintf(stderr, "%s: expected a multiple of %lld float32 values (input shape %s), got %zu bytes\n", argv[2],
                   static_cast<long long>(per_sample), nncore::shape_str(model->input_shape()).c_str(), bytes.size());
      return 1;
    }
    nncore::Shape shape{n};
    for (int64_t d : model->input_shape()) shape.push_back(d);
    nncore::Tensor x(shape);
    std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(x.data()));

    const nncore::Tensor y = model->predict(x);
    const int64_t per_output = y.size() / n;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < per_output; ++j) std::printf(j ? " %.9g" : "%.9g", y.data()[i * per_output + j]);
      std::printf("\n");
    }
  } catch (const std::exception& e) {  // nncore::ModelFileError for unreadable files
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
