#pragma once
// Data-parallel training over several processes ("ranks", as MPI launches them: mpiexec -n 4 ./train), each holding
// a replica of the model. fit with FitOptions::reducer set:
//   - broadcasts rank 0's weights to every rank when it starts (so every rank starts from the same model), and
//     rank 0's shuffling seed;
//   - gives each rank its share of every batch: with DataSharding::global (the default) x and y are the whole data
//     set on every rank and a global batch of size() * batch_size samples (one shuffled order, the same on every
//     rank) is cut into size() consecutive parts, rank r taking part r; with DataSharding::local each rank passes
//     its own data, shuffled on its own, and an epoch lasts as many steps as the largest rank needs (ranks whose data
//     ran out take part with no samples);
//   - averages the gradients over the global batch at every step, weighting each rank by its samples (one allreduce
//     of one contiguous buffer of every trainable gradient, before the optimizer's step, so clipping and the update
//     see the global gradient), and averages the moving statistics of trainable layers (BatchNormalization's) after
//     it: every rank's weights stay bit-identical;
//   - averages the epoch's losses and metrics, and the validation results (each rank evaluates its part of the
//     validation data), weighted by samples, so every rank's History and callbacks see the same numbers;
//   - prints progress on rank 0 only.
// A stop asked for by one rank (a callback's stop_training between batches, Ctrl-C) takes effect on every rank
// after the next step; at the end of an epoch (EarlyStopping on the averaged logs) every rank decides alike.
//
// nncore does not link MPI: the caller implements GradientReducer over its MPI (or any collective library). The
// Python package does it with mpi4py (nncore.distributed.init()); C++ programs built with MPI can use
// nncore::MpiReducer (nncore/mpi_reducer.hpp, the CMake target nncore::nncore_mpi, built when CMake finds MPI).
//
//   auto reducer = std::make_shared<nncore::MpiReducer>(MPI_COMM_WORLD);
//   nncore::FitOptions options;
//   options.reducer = reducer;            // then fit as usual, on every rank
//   model.fit(x, y, options);
#include <cstdint>

namespace nncore {

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sums n floats over the ranks in place; every rank must receive the same sum, bit for bit (MPI_Allreduce with
  // MPI_SUM does for the sizes nncore sends; an implementation that cannot promise it reduces to one rank and
  // broadcasts).
  virtual void allreduce(float* data, int64_t n) = 0;
  // Rank root's n floats onto every rank, in place.
  virtual void broadcast(float* data, int64_t n, int root) = 0;
};

// How fit reads x and y on each rank (see above).
enum class DataSharding { global, local };

}  // namespace nncore
