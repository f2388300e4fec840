#include "crypto/sodium_init.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace credvault::crypto {

void EnsureSodiumInitialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      std::fputs("credvault: libsodium failed to initialise\n", stderr);
      std::abort();
    }
  });
}

}  // namespace credvault::crypto
