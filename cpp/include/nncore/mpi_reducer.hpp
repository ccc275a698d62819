#pragma once
// nncore::MpiReducer: the GradientReducer of data-parallel fit (nncore/distributed.hpp) over an MPI communicator,
// for C++ programs built with MPI. Header-only, so the library itself never depends on an MPI: include it in a
// program that links MPI (CMake: target_link_libraries(app PRIVATE nncore::mpi), which nncore's package config
// defines when find_package(MPI) finds one). examples/cpp/train_mpi.cpp is a complete program.
//
//   MPI_Init(&argc, &argv);
//   nncore::FitOptions options;
//   options.reducer = std::make_shared<nncore::MpiReducer>(MPI_COMM_WORLD);
//   model.fit(x, y, options);                  // on every rank: each trains on its share, gradients averaged
//   MPI_Finalize();
#include <mpi.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "nncore/distributed.hpp"

namespace nncore {

class MpiReducer : public GradientReducer {
 public:
  explicit MpiReducer(MPI_Comm comm) : comm_(comm) {
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // MPI_Allreduce with MPI_SUM: for the two-rank and ring algorithms MPI implementations use, every rank receives
  // the same bits (see GradientReducer::allreduce).
  void allreduce(float* data, int64_t n) override {
    for (int64_t at = 0; at < n; at += kChunk)
      check(MPI_Allreduce(MPI_IN_PLACE, data + at, static_cast<int>(n - at < kChunk ? n - at : kChunk), MPI_FLOAT,
                          MPI_SUM, comm_),
            "MPI_Allreduce");
  }
  void broadcast(float* data, int64_t n, int root) override {
    for (int64_t at = 0; at < n; at += kChunk)
      check(MPI_Bcast(data + at, static_cast<int>(n - at < kChunk ? n - at : kChunk), MPI_FLOAT, root, comm_),
            "MPI_Bcast");
  }

 private:
  static constexpr int64_t kChunk = int64_t{1} << 30;  // MPI counts are int
  static void check(int code, const char* what) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, text, &len);
    throw std::runtime_error(std::string(what) + " failed: " + std::string(text, static_cast<size_t>(len)));
  }
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace nncore
