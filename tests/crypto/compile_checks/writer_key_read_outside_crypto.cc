// Must NOT compile: the public header gives no way to read a writer key out of its ring.
#include "crypto/key_buffer.h"
#include "crypto/writer_key_ring.h"

const credvault::crypto::KeyBuffer& Leak(const credvault::crypto::WriterKeyRing& ring) {
  return ring.CurrentKey();
}
