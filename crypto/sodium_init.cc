#include "crypto/sodium_init.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace credvault::crypto {

void EnsureSodiumInitialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    // libsodium's own ChaCha20 generator, seeded from the kernel (and reseeded in a child
    // after fork), instead of one getrandom system call for every key, DEK and nonce: a
    // Put draws randomness four times. Only in place of the default: a program that chose
    // its own generator (the known-answer tests) keeps it.
    const bool default_generator = std::strcmp(randombytes_implementation_name(), "sysrandom") == 0;
    if ((default_generator &&
         randombytes_set_implementation(&randombytes_internal_implementation) != 0) ||
        sodium_init() < 0) {
      std::fputs("credvault: libsodium failed to initialise\n", stderr);
      std::abort();
    }
  });
}

}  // namespace credvault::crypto
