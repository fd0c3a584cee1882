// Portable SIMD for the CPU kernels: 512-bit generic vectors (GCC/Clang vector extension). Inside a
// function compiled per instruction set (EMOFAST_CLONES, cpu_features.h) each clone lowers them to
// its own registers: one zmm (AVX-512), two ymm (AVX2) or four xmm (baseline SSE2).
#pragma once

#include "common/cpu_features.h"

#include <cstdint>

// The by-value vector returns below would change the ABI without AVX-512 (-Wpsabi); they are always
// inlined, so no call with that ABI exists. The warning comes at each instantiation, in the kernel
// files, hence ignored for the files that include this header rather than around the definitions.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace emofast {
// Internal linkage (one copy per kernel file), as when these helpers were defined in each kernel
// file: with external linkage GCC inlines them the same but allocates the kernels' registers
// differently (measured on narrow_pathway: same results, different code).
namespace {

template <typename T>
struct Vec {
  typedef T V __attribute__((vector_size(64)));
  static constexpr int64_t L = 64 / sizeof(T);  // lanes
};

// Unaligned load of a whole vector.
template <typename T>
EMOFAST_INLINE typename Vec<T>::V vload(const T* p) {
  typename Vec<T>::V v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

// Unaligned store of a whole vector.
template <typename T>
EMOFAST_INLINE void vstore(T* p, typename Vec<T>::V v) {
  __builtin_memcpy(p, &v, sizeof(v));
}

// Store the first n lanes (all of them when n >= L).
template <typename T>
EMOFAST_INLINE void vstore(T* p, typename Vec<T>::V v, int64_t n) {
  if (n >= Vec<T>::L) {
    __builtin_memcpy(p, &v, sizeof(v));
  } else {
    for (int64_t i = 0; i < n; ++i) p[i] = v[i];
  }
}

}  // namespace
}  // namespace emofast
