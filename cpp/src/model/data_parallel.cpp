// Data-parallel fit's collectives (model/data_parallel.hpp).
#include "model/data_parallel.hpp"

#include <algorithm>
#include <cstring>

#include "nncore/check.hpp"
#include "nncore/model.hpp"

namespace nncore::detail {

namespace {
constexpr int64_t kPiece = int64_t{1} << 20;  // integers travel as 20-bit pieces: exact in float32
}

DataParallel::DataParallel(GradientReducer& reducer)
    : reducer_(reducer), rank_(reducer.rank()), size_(reducer.size()) {
  NNC_CHECK(size_ >= 1 && rank_ >= 0 && rank_ < size_, "distributed fit: the reducer reports rank ", rank_,
            " of size ", size_);
}

void DataParallel::check_same(const std::vector<int64_t>& values, const std::vector<std::string>& names,
                              const std::string& what) {
  std::vector<int64_t> mine = values;
  // Rank 0's values (as pieces), then a count of the ranks that differ: every rank learns the verdict together.
  buf_.assign(values.size() * 2, 0.f);
  for (size_t i = 0; i < values.size(); ++i) {
    buf_[2 * i] = static_cast<float>(values[i] / kPiece);
    buf_[2 * i + 1] = static_cast<float>(values[i] % kPiece);
  }
  reducer_.broadcast(buf_.data(), static_cast<int64_t>(buf_.size()), 0);
  std::string diff;
  for (size_t i = 0; i < values.size(); ++i) {
    const int64_t root = static_cast<int64_t>(buf_[2 * i]) * kPiece + static_cast<int64_t>(buf_[2 * i + 1]);
    if (root != mine[i]) diff += str_cat(diff.empty() ? "" : ", ", names[i], " ", mine[i], " (rank 0: ", root, ")");
  }
  float bad = diff.empty() ? 0.f : 1.f;
  reducer_.allreduce(&bad, 1);
  NNC_CHECK(bad == 0.f, what, ": the ranks disagree", diff.empty() ? std::string(" (on another rank)")
                                                                   : str_cat(" (rank ", rank_, ": ", diff, ")"),
            ": every rank must call it with the same arguments and data sizes");
}

uint64_t DataParallel::broadcast_seed(uint64_t seed) {
  float p[4];
  for (int i = 0; i < 4; ++i) p[i] = static_cast<float>((seed >> (16 * i)) & 0xffff);
  reducer_.broadcast(p, 4, 0);
  uint64_t out = 0;
  for (int i = 0; i < 4; ++i) out |= static_cast<uint64_t>(p[i]) << (16 * i);
  return out;
}

void DataParallel::broadcast_weights(Model& model) {
  for (const auto& layer : model.layers())
    for (Param& p : layer->params()) {
      reducer_.broadcast(p.value.data(), p.value.size(), 0);
      p.changed();
    }
  model.refresh_quantized();
}

std::vector<int64_t> DataParallel::gather(int64_t n) {
  buf_.assign(static_cast<size_t>(2 * size_), 0.f);
  buf_[static_cast<size_t>(2 * rank_)] = static_cast<float>(n / kPiece);
  buf_[static_cast<size_t>(2 * rank_ + 1)] = static_cast<float>(n % kPiece);
  reducer_.allreduce(buf_.data(), static_cast<int64_t>(buf_.size()));
  std::vector<int64_t> out(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r)
    out[static_cast<size_t>(r)] = static_cast<int64_t>(buf_[static_cast<size_t>(2 * r)]) * kPiece +
                                  static_cast<int64_t>(buf_[static_cast<size_t>(2 * r + 1)]);
  return out;
}

bool DataParallel::average_gradients(const std::vector<Param*>& params, double share, bool stop) {
  int64_t n = 1;
  for (const Param* p : params) n += p->grad.size();
  buf_.resize(static_cast<size_t>(n));
  const float s = static_cast<float>(share);
  float* at = buf_.data();
  for (const Param* p : params) {
    const float* g = p->grad.data();
    for (int64_t i = 0; i < p->grad.size(); ++i) at[i] = g[i] * s;
    at += p->grad.size();
  }
  *at = stop ? 1.f : 0.f;
  reducer_.allreduce(buf_.data(), n);
  at = buf_.data();
  for (Param* p : params) {
    std::memcpy(p->grad.data(), at, sizeof(float) * static_cast<size_t>(p->grad.size()));
    at += p->grad.size();
  }
  return *at > 0.f;
}

void DataParallel::average_state(const std::vector<Param*>& state) {
  if (state.empty()) return;
  int64_t n = 0;
  for (const Param* p : state) n += p->value.size();
  buf_.resize(static_cast<size_t>(n));
  float* at = buf_.data();
  for (const Param* p : state) {
    std::memcpy(at, p->value.data(), sizeof(float) * static_cast<size_t>(p->value.size()));
    at += p->value.size();
  }
  reducer_.allreduce(buf_.data(), n);
  const float inv = 1.f / static_cast<float>(size_);
  at = buf_.data();
  for (Param* p : state) {
    for (int64_t i = 0; i < p->value.size(); ++i) p->value.data()[i] = at[i] * inv;
    p->changed();
    at += p->value.size();
  }
}

void DataParallel::average_values(std::vector<double>& values, int64_t weight) {
  buf_.resize(values.size() + 1);
  for (size_t i = 0; i < values.size(); ++i) buf_[i] = static_cast<float>(values[i] * static_cast<double>(weight));
  buf_[values.size()] = static_cast<float>(weight);
  reducer_.allreduce(buf_.data(), static_cast<int64_t>(buf_.size()));
  const double total = buf_[values.size()];
  for (size_t i = 0; i < values.size(); ++i) values[i] = total > 0 ? static_cast<double>(buf_[i]) / total : 0.0;
}

std::vector<bool> DataParallel::any(const std::vector<bool>& flags) {
  buf_.resize(flags.size());
  for (size_t i = 0; i < flags.size(); ++i) buf_[i] = flags[i] ? 1.f : 0.f;
  reducer_.allreduce(buf_.data(), static_cast<int64_t>(buf_.size()));
  std::vector<bool> out(flags.size());
  for (size_t i = 0; i < flags.size(); ++i) out[i] = buf_[i] > 0.f;
  return out;
}

Part part_of(int64_t n, int rank, int size) {
  const int64_t base = n / size, extra = n % size;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

}  // namespace nncore::detail
