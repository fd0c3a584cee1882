// Compiler attributes shared by the CPU kernels.
#pragma once

// The extension is built without -march (wheels must run on any x86-64), so hot kernels are
// compiled once per instruction set and picked at load time by the dynamic loader (GCC
// target_clones): AVX-512, AVX2, or the baseline. Elsewhere (Clang, other CPUs) one plain version.
// Each clone starts on a 64-byte boundary: otherwise its place in the library, which moves whenever
// unrelated code changes, decides where its loops fall against the CPU's fetch windows (measured
// when the sources were split: byte-identical gram_row_losses clones moved from offset 0 to 16 mod
// 64 and the K=256 forward took 6% longer on the AMD EPYC development VM; aligned, the difference
// went away).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define EMOFAST_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), aligned(64)))
#else
#define EMOFAST_CLONES
#endif
#define EMOFAST_INLINE inline __attribute__((always_inline))
