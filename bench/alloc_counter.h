// Counts heap allocations (malloc, calloc, realloc) in a benchmark binary by
// interposing glibc's allocator entry points. Include in exactly one .cpp.
#pragma once

#include <cstddef>

extern "C" void* __libc_malloc(size_t);
extern "C" void* __libc_calloc(size_t, size_t);
extern "C" void* __libc_realloc(void*, size_t);

namespace phigate::bench {
inline size_t g_allocs = 0;
}  // namespace phigate::bench

extern "C" void* malloc(size_t n) {
  ++phigate::bench::g_allocs;
  return __libc_malloc(n);
}
extern "C" void* calloc(size_t a, size_t b) {
  ++phigate::bench::g_allocs;
  return __libc_calloc(a, b);
}
extern "C" void* realloc(void* p, size_t n) {
  ++phigate::bench::g_allocs;
  return __libc_realloc(p, n);
}
