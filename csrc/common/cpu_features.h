// Compiler attributes shared by the CPU kernels.
#pragma once

// The extension is built without -march (wheels must run on any x86-64), so hot kernels are
// compiled once per instruction set and picked at load time by the dynamic loader (GCC
// target_clones): AVX-512, AVX2, or the baseline. Elsewhere (Clang, other CPUs) one plain version.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define EMOFAST_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EMOFAST_CLONES
#endif
#define EMOFAST_INLINE inline __attribute__((always_inline))
