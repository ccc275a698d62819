#pragma once
// The collective steps of data-parallel fit (nncore/distributed.hpp) over a GradientReducer: consistency checks,
// broadcasts, and the averages of gradients, state and logs. Everything travels as float32 through one reusable
// buffer; integers (counts, seeds) are split into exactly representable pieces.
#include <cstdint>
#include <string>
#include <vector>

#include "nncore/distributed.hpp"
#include "nncore/layers/layer.hpp"

namespace nncore {
class Model;
}

namespace nncore::detail {

class DataParallel {
 public:
  explicit DataParallel(GradientReducer& reducer);
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Throws on every rank alike (no rank left waiting in a collective) when the ranks' values differ from rank 0's;
  // names[i] says what values[i] is.
  void check_same(const std::vector<int64_t>& values, const std::vector<std::string>& names, const std::string& what);
  uint64_t broadcast_seed(uint64_t seed);
  // Every weight of every layer (trainable or not) from rank 0.
  void broadcast_weights(Model& model);
  // Every rank's n, in rank order (0 <= n < 2^40).
  std::vector<int64_t> gather(int64_t n);
  // The gradients of `params` times `share` (this rank's samples / the global batch's), summed over the ranks:
  // the global batch's mean gradient. `stop` rides along: returns whether any rank asked to stop.
  bool average_gradients(const std::vector<Param*>& params, double share, bool stop);
  // The mean over the ranks of each tensor (moving statistics).
  void average_state(const std::vector<Param*>& state);
  // For each flag: whether it is set on any rank.
  std::vector<bool> any(const std::vector<bool>& flags);
  // values[i] averaged over the ranks, each weighted by its `weight` (samples); a total weight of 0 leaves 0s.
  void average_values(std::vector<double>& values, int64_t weight);

 private:
  GradientReducer& reducer_;
  int rank_, size_;
  std::vector<float> buf_;
};

// The part of a global batch of n samples that rank r of `size` takes: offset and count (as even as can be).
struct Part {
  int64_t offset, count;
};
Part part_of(int64_t n, int rank, int size);

}  // namespace nncore::detail
