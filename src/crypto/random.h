// Secure randomness from libsodium (getrandom(2) underneath). Request ids are
// drawn from a per-process pool refilled 4 KiB at a time, so the hot path does
// not make a syscall per request; the pool is empty in a freshly forked worker,
// so no two processes ever share pool bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace phigate::crypto {

/** Initialises libsodium; call once at start-up before anything else here. */
bool initCrypto();

/** Fills `out` with `n` bytes from the OS CSPRNG. */
void randomBytes(void* out, size_t n);

/** `nbytes` random bytes as 2*nbytes lower-case hex characters. */
std::string randomHex(size_t nbytes);

/** Pooled variant for the hot path (same quality; fewer syscalls). */
void pooledRandomBytes(void* out, size_t n);

/** Discards pooled bytes; called in each worker right after fork(). */
void resetRandomPool();

}  // namespace phigate::crypto
