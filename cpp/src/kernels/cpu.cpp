// CPU feature detection and the active SIMD path. The path is chosen once from CPUID (and XGETBV, so the OS
// saves the wide registers), may be narrowed by NNCORE_ISA=generic|avx2|avx512, and tests can switch it.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/kernels.hpp"

#if defined(NNCORE_X86)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

namespace nncore::kernels {

namespace {

#if defined(NNCORE_X86)
uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

Isa detect() {
#if defined(NNCORE_X86)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::generic;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
  if (!(osxsave && avx && fma)) return Isa::generic;
  const uint64_t xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return Isa::generic;  // XMM and YMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::generic;
  const bool avx2 = b & (1u << 5);
  if (!avx2) return Isa::generic;
  const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
             avx512vl = b & (1u << 31);
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;  // opmask, ZMM_Hi256, Hi16_ZMM
  if (avx512f && avx512dq && avx512bw && avx512vl && zmm_state) return Isa::avx512;
  return Isa::avx2;
#else
  return Isa::generic;
#endif
}

}  // namespace

bool cpu_has_avx512_vnni() {
#if defined(NNCORE_X86)
  unsigned a, b, c, d;
  if (cpu_best_isa() != Isa::avx512 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (c & (1u << 11)) != 0;  // CPUID.(EAX=7, ECX=0):ECX[11] AVX512_VNNI
#else
  return false;
#endif
}

namespace {

// AMX's tile data is off until the process asks Linux for it (arch_prctl ARCH_REQ_XCOMP_PERM, XTILEDATA); the kernel
// refuses when a thread's signal stack is too small for the larger signal frame, and then the tiles stay unused.
bool amx_int8_usable() {
#if defined(NNCORE_X86) && defined(__linux__) && defined(SYS_arch_prctl)
  unsigned a, b, c, d;
  if (cpu_best_isa() != Isa::avx512 || !cpu_has_avx512_vnni() || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
    return false;
  const bool tile = d & (1u << 24), int8 = d & (1u << 25);  // CPUID.(EAX=7, ECX=0):EDX[24] AMX-TILE, [25] AMX-INT8
  if (!tile || !int8 || (xgetbv0() & (3u << 17)) != (3u << 17)) return false;  // XTILECFG, XTILEDATA state
  constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

std::atomic<bool>& amx_on() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("NNCORE_AMX");
    return cpu_has_amx_int8() && !(env != nullptr && std::string(env) == "0");
  }()};
  return on;
}

}  // namespace

bool cpu_has_amx_int8() {
  static const bool usable = amx_int8_usable();
  return usable;
}

bool amx_int8_enabled() { return amx_on().load(std::memory_order_relaxed); }

bool amx_int8_active() { return amx_int8_enabled() && active_isa() == Isa::avx512; }

void set_amx_int8(bool on) {
  if (on && !cpu_has_amx_int8())
    throw std::invalid_argument("set_amx: this CPU (or its operating system) does not offer AMX-INT8 tiles");
  amx_on().store(on);
}

namespace {

Isa parse(const std::string& s) {
  if (s == "generic") return Isa::generic;
  if (s == "avx2") return Isa::avx2;
  if (s == "avx512") return Isa::avx512;
  throw std::invalid_argument("NNCORE_ISA / set_isa: expected one of generic, avx2, avx512; got '" + s + "'");
}

Isa initial() {
  const Isa best = detect();
  const char* env = std::getenv("NNCORE_ISA");
  if (env == nullptr || *env == '\0') return best;
  Isa want;
  try {
    want = parse(env);
  } catch (const std::invalid_argument&) {
    return best;  // an unknown value must not make the library unusable; get_isa() shows what is used
  }
  return static_cast<int>(want) <= static_cast<int>(best) ? want : best;
}

std::atomic<int>& active() {
  static std::atomic<int> isa{static_cast<int>(initial())};
  return isa;
}

}  // namespace

Isa cpu_best_isa() {
  static const Isa best = detect();
  return best;
}

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(cpu_best_isa()))
    throw std::invalid_argument(std::string("set_isa: this CPU does not support '") + isa_name(isa) +
                                "'; best available is '" + isa_name(cpu_best_isa()) + "'");
  active().store(static_cast<int>(isa));
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

Isa isa_from_name(const std::string& s) { return parse(s); }

}  // namespace nncore::kernels
