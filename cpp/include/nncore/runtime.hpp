#pragma once
// Process-wide runtime settings: threads, SIMD instruction set, random seed.
#include <cstdint>
#include <string>

namespace nncore {

// Threads used by the kernels. Default: OMP_NUM_THREADS if set, else the number of cores.
void set_num_threads(int n);
int get_num_threads();

// The SIMD path the kernels dispatch to: "generic", "avx2" or "avx512". The default is the best the CPU has,
// overridden by the environment variable NNCORE_ISA. set_isa throws if the CPU lacks the requested path.
std::string get_isa();
void set_isa(const std::string& isa);
std::string best_isa();

// Seeds weight initializers, shuffling and dropout. Without a call the seed comes from std::random_device.
void set_random_seed(uint64_t seed);
// Next seed from the global stream (used to give each layer or loop its own generator).
uint64_t next_seed();

}  // namespace nncore
