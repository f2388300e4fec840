#ifndef CREDVAULT_SERVER_KEYS_WRITE_TIER_KEYS_H_
#define CREDVAULT_SERVER_KEYS_WRITE_TIER_KEYS_H_

#include "crypto/key_directory.h"
#include "crypto/root_key.h"
#include "crypto/writer_key_ring.h"

namespace credvault::server {

// Everything secret or trusted that the write tier holds: the writer keys, the pinned root
// public keys and the pinned key directory public keys. Nothing here can decrypt or sign
// an org key record.
struct WriteTierKeys {
  crypto::WriterKeyRing writer_keys;
  crypto::RootKeyPins root_pins;
  crypto::KeyDirectoryPins directory_pins;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_KEYS_WRITE_TIER_KEYS_H_
