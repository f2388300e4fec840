// Control for writer_key_read_outside_crypto.cc: crypto/ itself reads the key through its
// internal accessor, so that check fails for the access and not for a broken include path.
#include "crypto/internal/writer_key_access.h"
#include "crypto/key_buffer.h"
#include "crypto/writer_key_ring.h"

const credvault::crypto::KeyBuffer& Read(const credvault::crypto::WriterKeyRing& ring) {
  return credvault::crypto::internal::WriterKeyAccess::CurrentKey(ring);
}
