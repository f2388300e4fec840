// Control for key_buffer_copy.cc: the same code with a move compiles, so that the copy
// check fails for the copy and not for a broken include path.
#include <utility>

#include "crypto/key_buffer.h"

credvault::crypto::KeyBuffer Take(credvault::crypto::KeyBuffer key) { return key; }

credvault::crypto::KeyBuffer Pass(credvault::crypto::KeyBuffer& key) {
  return Take(std::move(key));
}
