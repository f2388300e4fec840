#ifndef CREDVAULT_TESTS_FUZZ_FUZZ_KEYS_H_
#define CREDVAULT_TESTS_FUZZ_FUZZ_KEYS_H_

// Fixed keys for the fuzz targets and for the tool that writes their seed corpora
// (make_fuzz_seeds.cc). The checked-in seeds must verify under the keys a target holds, so
// both make the keys the same way: from fixed bytes, and, where the crypto module only
// offers random generation (root and org key pairs), from a deterministic stream that
// replaces libsodium's randomness for the whole process. Test keys only: nothing here is
// secret or fit for any other use.

#include <sodium.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/audit_signer.h"
#include "crypto/key_buffer.h"
#include "crypto/key_directory.h"
#include "crypto/key_file_seal_key_provider.h"
#include "crypto/org_key.h"
#include "crypto/root_key.h"
#include "crypto/writer_key_ring.h"

namespace credvault::fuzz {

inline constexpr char kFuzzOrg[] = "org-fuzz";
inline constexpr char kFuzzCredentialName[] = "app/db";
inline constexpr std::uint64_t kFuzzCredentialVersion = 1;

// Aborts with the status: a fuzz target cannot run without its keys.
template <typename T>
T OrDie(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "fuzz set-up: %s: %s\n", what, value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

// A deterministic replacement for libsodium's randombytes: ChaCha20 under a fixed key,
// one nonce per request. Reset() restarts the stream, so key generation that follows it
// yields the same keys in every process.
class DeterministicRandom {
 public:
  static void Install() {
    static randombytes_implementation implementation = {
        &Name, &Random, /*stir=*/nullptr, /*uniform=*/nullptr, &Buf, /*close=*/nullptr};
    randombytes_set_implementation(&implementation);
    if (sodium_init() < 0) std::abort();
  }
  static void Reset() { counter() = 0; }

 private:
  static std::uint64_t& counter() {
    static std::uint64_t value = 0;
    return value;
  }
  static const char* Name() { return "credvault-fuzz-deterministic"; }
  static void Buf(void* const buf, const size_t size) {
    unsigned char seed[randombytes_SEEDBYTES] = {'c', 'r', 'e', 'd', 'v', 'a', 'u', 'l', 't'};
    const std::uint64_t n = counter()++;
    for (int i = 0; i < 8; ++i) seed[24 + i] = static_cast<unsigned char>(n >> (8 * i));
    randombytes_buf_deterministic(buf, size, seed);
  }
  static std::uint32_t Random() {
    std::uint32_t value = 0;
    Buf(&value, sizeof(value));
    return value;
  }
};

inline crypto::KeyBuffer FixedKey(std::uint8_t first) {
  std::vector<std::uint8_t> bytes(32);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(first + i);
  return OrDie(crypto::KeyBuffer::CopyFrom(bytes), "key buffer");
}

// Writer key version 1 (current) and 2.
inline crypto::WriterKeyRing FuzzWriterKeys() {
  std::vector<std::pair<std::uint32_t, crypto::KeyBuffer>> keys;
  keys.emplace_back(1, FixedKey(0x10));
  keys.emplace_back(2, FixedKey(0x30));
  return OrDie(crypto::WriterKeyRing::New(1, std::move(keys)), "writer keys");
}

inline crypto::AuditSigner FuzzAuditSigner() {
  return OrDie(crypto::AuditSigner::FromSeed(FixedKey(0x50)), "audit signer");
}

// The key hierarchy of kFuzzOrg (org key version 1) as the decrypt tier holds it.
struct FuzzOrgKeys {
  crypto::WriterKeyRing writer_keys;
  crypto::OrgPrivateKey org_private;
  crypto::VerifiedOrgPublicKey org_public;
};

// Needs DeterministicRandom::Install() first; the same keys in every process.
inline FuzzOrgKeys MakeFuzzOrgKeys() {
  DeterministicRandom::Reset();
  auto seal_key = OrDie(crypto::KeyFileSealKeyProvider::FromKey(FixedKey(0x70)), "seal key");
  crypto::SealedRootKey sealed_root = OrDie(crypto::GenerateRootKey(1, *seal_key), "root key");
  crypto::RootPrivateKey root = OrDie(crypto::UnsealRootKey(sealed_root, *seal_key), "unseal");
  crypto::RootKeyPins pins = OrDie(
      crypto::RootKeyPins::New({{1, crypto::RootKeyFingerprint(sealed_root.public_key)}}), "pins");
  crypto::KeyDirectorySigner signer =
      OrDie(crypto::KeyDirectorySigner::FromSeed(1, FixedKey(0x90)), "directory signer");
  crypto::KeyDirectoryPins directory_pins = crypto::KeyDirectoryPins::Of(signer);
  crypto::PinnedRootPublicKey pinned = OrDie(pins.Pin(1, sealed_root.public_key), "pin");
  crypto::OrgKeyRecord record = OrDie(crypto::CreateOrgKey(kFuzzOrg, 1, pinned, signer), "org key");
  return FuzzOrgKeys{
      FuzzWriterKeys(),
      OrDie(crypto::UnsealOrgPrivateKey(record, root, directory_pins), "org private key"),
      OrDie(crypto::VerifyOrgKeyRecordForSealing(record, directory_pins, pins), "org public key")};
}

}  // namespace credvault::fuzz

#endif  // CREDVAULT_TESTS_FUZZ_FUZZ_KEYS_H_
