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

// int8 GEMMs (quantized models) use AMX tiles where the CPU has AMX-INT8 and Linux grants the process their state,
// while the ISA is "avx512"; set_amx(false) (or NNCORE_AMX=0) keeps them on AVX-512 VNNI. Both give the same exact
// integer sums. set_amx(true) throws where AMX is not usable; has_amx() says whether it is, get_amx() whether it is
// enabled (it is used only while the ISA is "avx512").
bool has_amx();
bool get_amx();
void set_amx(bool on);

// Seeds weight initializers, shuffling and dropout. Without a call the seed comes from std::random_device.
void set_random_seed(uint64_t seed);
// Next seed from the global stream (used to give each layer or loop its own generator).
uint64_t next_seed();

}  // namespace nncore
