#ifndef CREDVAULT_TESTS_CRYPTO_CRYPTO_TEST_UTIL_H_
#define CREDVAULT_TESTS_CRYPTO_CRYPTO_TEST_UTIL_H_

#include <sodium.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "crypto/envelope.h"
#include "crypto/key_buffer.h"
#include "crypto/key_directory.h"
#include "crypto/key_file_seal_key_provider.h"
#include "crypto/org_key.h"
#include "crypto/root_key.h"
#include "crypto/writer_key_ring.h"
#include "gtest/gtest.h"

namespace credvault::crypto::testing {

// Unwraps a StatusOr in a test, failing loudly with its status.
template <typename T>
T ValueOrDie(absl::StatusOr<T> value) {
  if (!value.ok()) {
    ADD_FAILURE() << value.status();
    std::abort();
  }
  return *std::move(value);
}

inline KeyBuffer FilledKey(std::uint8_t first, std::size_t size = 32) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(first + i);
  return ValueOrDie(KeyBuffer::CopyFrom(bytes));
}

inline WriterKeyRing RingWith(std::uint32_t current, std::vector<std::uint32_t> versions,
                              std::uint8_t seed = 0x10) {
  std::vector<std::pair<std::uint32_t, KeyBuffer>> keys;
  for (std::uint32_t v : versions) {
    keys.emplace_back(v, FilledKey(static_cast<std::uint8_t>(seed + 0x20 * v)));
  }
  return ValueOrDie(WriterKeyRing::New(current, std::move(keys)));
}

// A key directory signing key of `version` from a fresh random seed.
inline KeyDirectorySigner NewDirectorySigner(std::uint32_t version = 1) {
  return ValueOrDie(KeyDirectorySigner::FromSeed(version, ValueOrDie(KeyBuffer::Generate(32))));
}

// A complete key hierarchy for one org, as the decrypt tier would hold it.
// What a forger holding the writer key (but no org private key) could do, as a compromised
// write tier can: recompute an envelope's authenticator after editing it. Written from the
// format description in crypto/envelope.h, independently of the implementation.
inline void ReauthenticateEnvelope(std::vector<std::uint8_t>& envelope, const CredentialBinding& b,
                                   const KeyBuffer& writer_key) {
  std::vector<std::uint8_t> message;
  auto add_u32 = [&](std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) message.push_back(static_cast<std::uint8_t>(v >> s));
  };
  auto add_string = [&](std::string_view s) {
    add_u32(static_cast<std::uint32_t>(s.size()));
    message.insert(message.end(), s.begin(), s.end());
  };
  add_string("credvault.envelope.auth.v1");
  add_string(b.org_id);
  add_string(b.name);
  for (int s = 56; s >= 0; s -= 8) message.push_back(static_cast<std::uint8_t>(b.version >> s));
  message.insert(message.end(), envelope.begin(), envelope.end() - 32);
  crypto_generichash(envelope.data() + envelope.size() - 32, 32, message.data(), message.size(),
                     writer_key.RevealSecret().data(), writer_key.size());
}

struct Hierarchy {
  std::unique_ptr<KeyFileSealKeyProvider> seal_key;
  SealedRootKey sealed_root;
  RootPrivateKey root;
  RootKeyPins pins;
  WriterKeyRing writer_keys;
  KeyDirectorySigner directory_signer;
  KeyDirectoryPins directory_pins;
  OrgKeyRecord org_record;
  OrgPrivateKey org_private;
  VerifiedOrgPublicKey org_public;
};

inline Hierarchy MakeHierarchy(const std::string& org_id, std::uint32_t org_key_version = 1) {
  auto seal_key = ValueOrDie(KeyFileSealKeyProvider::FromKey(ValueOrDie(KeyBuffer::Generate(32))));
  SealedRootKey sealed_root = ValueOrDie(GenerateRootKey(1, *seal_key));
  RootPrivateKey root = ValueOrDie(UnsealRootKey(sealed_root, *seal_key));
  RootKeyPins pins =
      ValueOrDie(RootKeyPins::New({{1, RootKeyFingerprint(sealed_root.public_key)}}));
  WriterKeyRing writer_keys = RingWith(1, {1});
  KeyDirectorySigner directory_signer = NewDirectorySigner();
  KeyDirectoryPins directory_pins = KeyDirectoryPins::Of(directory_signer);
  PinnedRootPublicKey pinned = ValueOrDie(pins.Pin(1, sealed_root.public_key));
  OrgKeyRecord record = ValueOrDie(CreateOrgKey(org_id, org_key_version, pinned, directory_signer));
  OrgPrivateKey org_private = ValueOrDie(UnsealOrgPrivateKey(record, root, directory_pins));
  VerifiedOrgPublicKey org_public =
      ValueOrDie(VerifyOrgKeyRecordForSealing(record, directory_pins, pins));
  return Hierarchy{std::move(seal_key),       std::move(sealed_root), std::move(root),
                   std::move(pins),           std::move(writer_keys), std::move(directory_signer),
                   std::move(directory_pins), std::move(record),      std::move(org_private),
                   std::move(org_public)};
}

}  // namespace credvault::crypto::testing

#endif  // CREDVAULT_TESTS_CRYPTO_CRYPTO_TEST_UTIL_H_
