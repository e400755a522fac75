#include "cpu_isa.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "common.h"

namespace petra {

namespace {

#if defined(__GNUC__) && defined(__x86_64__)
#define PETRA_X86 1
#endif

bool CpuHas(KernelIsa isa) {
#ifdef PETRA_X86
  switch (isa) {
    case KernelIsa::Baseline:
      return true;
    case KernelIsa::Avx2:
      return __builtin_cpu_supports("avx2");
    // x86-64-v4: what the AVX-512 clones are compiled for.
    case KernelIsa::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512cd");
  }
  return false;
#else
  return isa == KernelIsa::Baseline;
#endif
}

bool ParseIsa(const std::string& name, KernelIsa* out) {
  for (KernelIsa isa : {KernelIsa::Baseline, KernelIsa::Avx2, KernelIsa::Avx512}) {
    if (name == KernelIsaName(isa)) {
      *out = isa;
      return true;
    }
  }
  return false;
}

struct Selection {
  KernelIsa isa;
  std::string reason;
};

// The best clone this CPU runs, lowered by PETRA_CPU_ISA. A bad value cannot throw at load: it is reported through
// info() (KernelIsaReason) and the CPU's best clone is used.
Selection Initial() {
  KernelIsa best = KernelIsa::Baseline;
  for (KernelIsa isa : AvailableKernelIsas()) best = isa;
  const char* env = std::getenv("PETRA_CPU_ISA");
  const std::string wanted = env ? env : "";
  if (wanted.empty() || wanted == "auto") return {best, "the best this CPU runs"};
  KernelIsa asked;
  if (!ParseIsa(wanted, &asked))
    return {best, "PETRA_CPU_ISA=" + wanted + " is not auto, avx512, avx2 or baseline: ignored"};
  if (!CpuHas(asked)) return {best, "PETRA_CPU_ISA=" + wanted + " is beyond this CPU: ignored"};
  return {asked, "PETRA_CPU_ISA=" + wanted};
}

// The active clone, atomic because the compute thread reads it while setKernelIsa may write it from JS; its reason is
// only read and written on the JS thread (info(), setKernelIsa).
struct Active {
  std::atomic<KernelIsa> isa;
  std::string reason;
};
Active& Current() {
  static Active active = [] {
    Selection initial = Initial();
    return Active{{initial.isa}, initial.reason};
  }();
  return active;
}

std::string ReadCpuModel() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
#if defined(__aarch64__)
  return "aarch64";
#else
  return "unknown CPU";
#endif
}

}  // namespace

const char* KernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::Baseline:
      return "baseline";
    case KernelIsa::Avx2:
      return "avx2";
    case KernelIsa::Avx512:
      return "avx512";
  }
  return "baseline";
}

std::vector<KernelIsa> AvailableKernelIsas() {
  std::vector<KernelIsa> out;
  for (KernelIsa isa : {KernelIsa::Baseline, KernelIsa::Avx2, KernelIsa::Avx512}) {
    if (CpuHas(isa)) out.push_back(isa);
  }
  return out;
}

KernelIsa ActiveKernelIsa() { return Current().isa.load(std::memory_order_relaxed); }

std::string KernelIsaReason() { return Current().reason; }

void SetKernelIsa(const std::string& name) {
  KernelIsa isa;
  if (!ParseIsa(name, &isa)) Fail(ErrorCode::Config, "kernel ISA must be avx512, avx2 or baseline, got '" + name + "'");
  if (!CpuHas(isa)) Fail(ErrorCode::Config, "kernel ISA '" + name + "' is beyond this CPU (" + HostCpu().model + ")");
  Current().isa.store(isa, std::memory_order_relaxed);
  Current().reason = "set at run time";
}

const CpuFacts& HostCpu() {
  static const CpuFacts facts = [] {
    CpuFacts f;
    f.model = ReadCpuModel();
#ifdef PETRA_X86
    f.x86 = true;
    // GCC names the features as /proc/cpuinfo does, less the underscores.
    const bool avx512vnni = __builtin_cpu_supports("avx512vnni");
    bool avxvnni = false, amx = false;
#if __GNUC__ >= 11
    avxvnni = __builtin_cpu_supports("avxvnni");
    amx = __builtin_cpu_supports("amx-int8");
#endif
    if (__builtin_cpu_supports("avx2")) f.int8Flags.push_back("avx2");
    if (__builtin_cpu_supports("avx512bw")) f.int8Flags.push_back("avx512bw");
    if (avx512vnni) f.int8Flags.push_back("avx512vnni");
    if (avxvnni) f.int8Flags.push_back("avxvnni");
    if (amx) f.int8Flags.push_back("amx-int8");
    f.vnni = avx512vnni || avxvnni;
#endif
    return f;
  }();
  return facts;
}

std::string OneDnnIsa() {
  using Query = int (*)();
  static const Query query = reinterpret_cast<Query>(dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa"));
  if (!query) return "";
  // dnnl_cpu_isa_t values (oneDNN 2.x); each ISA's bits include those of the ISAs below it.
  switch (query()) {
    case 0x0:
      return "all";
    case 0x1:
      return "sse41";
    case 0x3:
      return "avx";
    case 0x7:
      return "avx2";
    case 0x407:
      return "avx2_vnni";
    case 0x27:
      return "avx512_core";
    case 0x67:
      return "avx512_core_vnni";
    case 0xe7:
      return "avx512_core_bf16";
    case 0x3e7:
      return "avx512_core_amx";
    default: {
      char unknown[32];
      std::snprintf(unknown, sizeof unknown, "isa 0x%x", query());
      return unknown;
    }
  }
}

}  // namespace petra
