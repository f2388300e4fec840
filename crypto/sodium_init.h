#ifndef CREDVAULT_CRYPTO_SODIUM_INIT_H_
#define CREDVAULT_CRYPTO_SODIUM_INIT_H_

namespace credvault::crypto {

// Initialises libsodium once per process. Every entry point of this module calls it, so
// callers never have to; it is public only so that a binary can fail fast at start.
// Aborts the process if libsodium cannot initialise (no usable randomness source): no
// later call could be safe.
void EnsureSodiumInitialized();

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_SODIUM_INIT_H_
