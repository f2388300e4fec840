// The envelope parser and opener (crypto/envelope.h) on arbitrary bytes, as the decrypt
// tier meets a stored envelope that a database writer may have replaced. The input is the
// envelope; the binding and keys are fixed (tests/fuzz/fuzz_keys.h), so the seeds written
// by make_fuzz_seeds open and the fuzzer mutates from envelopes that reach the AEAD.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "absl/status/status.h"
#include "crypto/envelope.h"
#include "tests/fuzz/fuzz_keys.h"

namespace {

using ::credvault::crypto::CredentialBinding;
using ::credvault::crypto::ParsedEnvelope;

const credvault::fuzz::FuzzOrgKeys* keys = nullptr;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  credvault::fuzz::DeterministicRandom::Install();
  keys = new credvault::fuzz::FuzzOrgKeys(credvault::fuzz::MakeFuzzOrgKeys());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const absl::Span<const std::uint8_t> bytes(data, size);
  absl::StatusOr<ParsedEnvelope> parsed = credvault::crypto::ParseEnvelope(bytes);
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kDataLoss);
    return 0;
  }
  // A parsed envelope accounts for every byte: header, ciphertext and tag, authenticator.
  Check(parsed->ciphertext.size() >= 16);
  Check(parsed->ciphertext.size() - 16 + credvault::crypto::kEnvelopeOverhead == size);
  Check(parsed->authenticated_bytes.size() + parsed->authenticator.size() == size);
  Check(parsed->authenticator.size() == 32);

  const CredentialBinding binding{credvault::fuzz::kFuzzOrg, credvault::fuzz::kFuzzCredentialName,
                                  credvault::fuzz::kFuzzCredentialVersion};
  absl::StatusOr<credvault::crypto::SecretBytes> opened =
      credvault::crypto::OpenEnvelope(*parsed, binding, keys->org_private, keys->writer_keys);
  if (opened.ok()) {
    Check(opened->size() + 16 == parsed->ciphertext.size());
    Check(parsed->org_key_version == keys->org_private.key_version());
  } else {
    Check(opened.status().code() == absl::StatusCode::kDataLoss ||
          opened.status().code() == absl::StatusCode::kInvalidArgument);
  }
  // The same envelope bound to another version must never open.
  const CredentialBinding moved{binding.org_id, binding.name, binding.version + 1};
  Check(
      !credvault::crypto::OpenEnvelope(*parsed, moved, keys->org_private, keys->writer_keys).ok());
  return 0;
}
