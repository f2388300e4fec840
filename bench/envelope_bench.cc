// Put-side envelope build and Decrypt-side envelope open (org private key already
// unsealed, as the decrypt tier caches it), at 256 B and 4 KiB.
//
// Targets on one core: build >= 10,000 ops/s and open >= 20,000 ops/s at 256 B.
// Run: build/release/bench/envelope_bench (scripts/bench.sh builds it in Release).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "crypto/envelope.h"
#include "crypto/key_directory.h"
#include "crypto/key_file_seal_key_provider.h"
#include "crypto/org_key.h"
#include "crypto/root_key.h"

namespace credvault::crypto {
namespace {

template <typename T>
T Must(absl::StatusOr<T> value) {
  if (!value.ok()) std::abort();
  return *std::move(value);
}

struct Keys {
  Keys()
      : seal_key(Must(KeyFileSealKeyProvider::FromKey(Must(KeyBuffer::Generate(32))))),
        sealed_root(Must(GenerateRootKey(1, *seal_key))),
        root(Must(UnsealRootKey(sealed_root, *seal_key))),
        pins(Must(RootKeyPins::New({{1, RootKeyFingerprint(sealed_root.public_key)}}))),
        writer_keys(MakeRing()),
        directory_signer(Must(KeyDirectorySigner::FromSeed(1, Must(KeyBuffer::Generate(32))))),
        directory_pins(KeyDirectoryPins::Of(directory_signer)),
        record(Must(CreateOrgKey("bench-org", 1, Must(pins.Pin(1, sealed_root.public_key)),
                                 directory_signer))),
        org_public(Must(VerifyOrgKeyRecordForSealing(record, directory_pins, pins))),
        org_private(Must(UnsealOrgPrivateKey(record, root, directory_pins))) {}

  static WriterKeyRing MakeRing() {
    std::vector<std::pair<std::uint32_t, KeyBuffer>> keys;
    keys.emplace_back(1, Must(KeyBuffer::Generate(32)));
    return Must(WriterKeyRing::New(1, std::move(keys)));
  }

  std::unique_ptr<KeyFileSealKeyProvider> seal_key;
  SealedRootKey sealed_root;
  RootPrivateKey root;
  RootKeyPins pins;
  WriterKeyRing writer_keys;
  KeyDirectorySigner directory_signer;
  KeyDirectoryPins directory_pins;
  OrgKeyRecord record;
  VerifiedOrgPublicKey org_public;
  OrgPrivateKey org_private;
};

Keys& SharedKeys() {
  static Keys* keys = new Keys();
  return *keys;
}

void BM_BuildEnvelope(benchmark::State& state) {
  Keys& keys = SharedKeys();
  const SecretBytes secret = SecretBytes::Random(static_cast<std::size_t>(state.range(0)));
  const CredentialBinding binding{"bench-org", "crm/token", 1};
  for (auto _ : state) {
    absl::StatusOr<std::vector<std::uint8_t>> envelope =
        BuildEnvelope(binding, keys.org_public, keys.writer_keys, secret);
    if (!envelope.ok()) state.SkipWithError("build failed");
    benchmark::DoNotOptimize(envelope);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_OpenEnvelope(benchmark::State& state) {
  Keys& keys = SharedKeys();
  const SecretBytes secret = SecretBytes::Random(static_cast<std::size_t>(state.range(0)));
  const CredentialBinding binding{"bench-org", "crm/token", 1};
  const std::vector<std::uint8_t> envelope =
      Must(BuildEnvelope(binding, keys.org_public, keys.writer_keys, secret));
  for (auto _ : state) {
    absl::StatusOr<ParsedEnvelope> parsed = ParseEnvelope(envelope);
    if (!parsed.ok()) state.SkipWithError("parse failed");
    absl::StatusOr<SecretBytes> plaintext =
        OpenEnvelope(*parsed, binding, keys.org_private, keys.writer_keys);
    if (!plaintext.ok()) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(plaintext);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

BENCHMARK(BM_BuildEnvelope)->Arg(256)->Arg(4096);
BENCHMARK(BM_OpenEnvelope)->Arg(256)->Arg(4096);

}  // namespace
}  // namespace credvault::crypto

BENCHMARK_MAIN();
