#include "server/app/selfcheck.h"

#include <chrono>
#include <string>
#include <vector>

#include "crypto/audit_chain.h"
#include "crypto/envelope.h"
#include "crypto/key_directory.h"
#include "crypto/key_file_seal_key_provider.h"
#include "crypto/org_key.h"
#include "crypto/root_key.h"
#include "server/base/audit_actions.h"

namespace credvault::server {
namespace {

using Clock = std::chrono::steady_clock;

class Checker {
 public:
  explicit Checker(std::ostream& out) : out_(out) {}

  void Pass(const std::string& what) { out_ << "  ok    " << what << "\n"; }
  void Fail(const std::string& what, const absl::Status& status) {
    out_ << "  FAIL  " << what << ": " << status << "\n";
    failed_ = true;
  }
  // Expects `status` to be the refusal `code`.
  void ExpectRefused(const std::string& what, const absl::Status& status, absl::StatusCode code) {
    if (status.code() == code) {
      Pass(what + " (" + std::string(absl::StatusCodeToString(code)) + ")");
    } else {
      Fail(what, status.ok() ? absl::InternalError("was accepted") : status);
    }
  }
  bool failed() const { return failed_; }
  std::ostream& out() { return out_; }

 private:
  std::ostream& out_;
  bool failed_ = false;
};

double OpsPerSecond(int iterations, Clock::duration elapsed) {
  return iterations / std::chrono::duration<double>(elapsed).count();
}

}  // namespace

int RunSelfCheck(std::ostream& out) {
  using namespace credvault::crypto;  // NOLINT: a short demonstration of the whole module
  Checker check(out);
  out << "credvault self-check: key hierarchy, envelopes, audit chain\n";

  auto seal_key = KeyFileSealKeyProvider::FromKey(*KeyBuffer::Generate(32));
  if (!seal_key.ok()) return check.Fail("seal key", seal_key.status()), 1;
  check.Pass("seal key generated in guarded memory, id " + (*seal_key)->KeyId());

  auto sealed_root = GenerateRootKey(1, **seal_key);
  if (!sealed_root.ok()) return check.Fail("root key", sealed_root.status()), 1;
  auto root = UnsealRootKey(*sealed_root, **seal_key);
  if (!root.ok()) return check.Fail("root key unwrap", root.status()), 1;
  const std::string pin = RootKeyFingerprint(sealed_root->public_key);
  check.Pass("root key v1 wrapped by the seal key; pin " + pin);

  auto pins = RootKeyPins::New({{1, pin}});
  std::vector<std::pair<std::uint32_t, KeyBuffer>> writer_material;
  writer_material.emplace_back(1, *KeyBuffer::Generate(kWriterKeySize));
  auto writer_keys = WriterKeyRing::New(1, std::move(writer_material));
  if (!pins.ok() || !writer_keys.ok()) return check.Fail("configuration", pins.status()), 1;

  auto pinned = pins->Pin(1, sealed_root->public_key);
  if (!pinned.ok()) return check.Fail("root pin", pinned.status()), 1;
  auto directory_seed = KeyBuffer::Generate(kKeyDirectorySeedSize);
  if (!directory_seed.ok()) return check.Fail("key directory key", directory_seed.status()), 1;
  auto directory_signer = KeyDirectorySigner::FromSeed(1, *directory_seed);
  if (!directory_signer.ok()) return check.Fail("key directory key", directory_signer.status()), 1;
  const KeyDirectoryPins directory_pins = KeyDirectoryPins::Of(*directory_signer);
  auto record = CreateOrgKey("demo-org", 1, *pinned, *directory_signer);
  if (!record.ok()) return check.Fail("org key", record.status()), 1;
  check.Pass(
      "org key v1 for demo-org made by the key authority, private half sealed to root v1, "
      "record signed by the key directory key");

  auto org_public = VerifyOrgKeyRecordForSealing(*record, directory_pins, *pins);
  if (!org_public.ok()) return check.Fail("org key record", org_public.status()), 1;
  const SecretBytes secret = SecretBytes::CopyFrom(std::string_view("demo secret value"));
  const CredentialBinding binding{"demo-org", "crm/api-key", 1};
  auto envelope = BuildEnvelope(binding, *org_public, *writer_keys, secret);
  if (!envelope.ok()) return check.Fail("envelope", envelope.status()), 1;
  check.Pass("envelope built with public keys only: " + std::to_string(envelope->size()) +
             " bytes for a " + std::to_string(secret.size()) + "-byte secret");

  auto org_private = UnsealOrgPrivateKey(*record, *root, directory_pins);
  if (!org_private.ok()) return check.Fail("org key unseal", org_private.status()), 1;
  auto parsed = ParseEnvelope(*envelope);
  if (!parsed.ok()) return check.Fail("parse", parsed.status()), 1;
  auto opened = OpenEnvelope(*parsed, binding, *org_private, *writer_keys);
  if (!opened.ok()) return check.Fail("open", opened.status()), 1;
  if (!SecretsEqual(*opened, secret)) {
    return check.Fail("open", absl::DataLossError("plaintext differs")), 1;
  }
  check.Pass("decrypt tier: root -> org key -> DEK -> secret round trip");

  std::vector<std::uint8_t> tampered = *envelope;
  tampered[tampered.size() / 2] ^= 1;
  auto tampered_parsed = ParseEnvelope(tampered);
  check.ExpectRefused(
      "one flipped byte",
      tampered_parsed.ok()
          ? OpenEnvelope(*tampered_parsed, binding, *org_private, *writer_keys).status()
          : tampered_parsed.status(),
      absl::StatusCode::kDataLoss);
  check.ExpectRefused(
      "envelope moved to another name",
      OpenEnvelope(*parsed, {"demo-org", "crm/other", 1}, *org_private, *writer_keys).status(),
      absl::StatusCode::kDataLoss);
  OrgKeyRecord substituted = *record;
  substituted.public_key = GenerateX25519KeyPair()->public_key;
  check.ExpectRefused("org key record with a substituted public key",
                      VerifyOrgKeyRecordForSealing(substituted, directory_pins, *pins).status(),
                      absl::StatusCode::kDataLoss);

  AuditHash head = AuditChainGenesis("demo-org");
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    head = AuditChainStep(head, {"demo-org", seq, 0, "selfcheck", audit_action::kCredentialPut,
                                 std::string(binding.name), "ok", "selfcheck", ""});
  }
  check.Pass("audit hash chain of 3 events");

  constexpr int kIterations = 2000;
  auto start = Clock::now();
  for (int i = 0; i < kIterations; ++i) {
    if (!BuildEnvelope(binding, *org_public, *writer_keys, secret).ok()) break;
  }
  const double build_rate = OpsPerSecond(kIterations, Clock::now() - start);
  start = Clock::now();
  for (int i = 0; i < kIterations; ++i) {
    if (!OpenEnvelope(*parsed, binding, *org_private, *writer_keys).ok()) break;
  }
  const double open_rate = OpsPerSecond(kIterations, Clock::now() - start);
  out << "  rate  envelope build " << static_cast<long>(build_rate) << " ops/s, open "
      << static_cast<long>(open_rate) << " ops/s (one thread, " << secret.size()
      << "-byte secret)\n";

  out << (check.failed() ? "self-check FAILED\n" : "self-check passed\n");
  return check.failed() ? 1 : 0;
}

}  // namespace credvault::server
