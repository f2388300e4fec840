#include "crypto/audit_chain.h"

#include <sodium.h>

#include "crypto/canonical_encoding.h"
#include "crypto/sodium_init.h"

namespace credvault::crypto {
namespace {

constexpr std::string_view kGenesisDomain = "credvault.audit.genesis.v1";
constexpr std::string_view kEventDomain = "credvault.audit.event.v1";

AuditHash Blake2b256(const CanonicalEncoder& encoder) {
  AuditHash out;
  const auto bytes = encoder.bytes();
  crypto_generichash(out.data(), out.size(), bytes.data(), bytes.size(), nullptr, 0);
  return out;
}

}  // namespace

AuditHash AuditChainGenesis(std::string_view org_id) {
  EnsureSodiumInitialized();
  CanonicalEncoder encoder(kGenesisDomain);
  encoder.AddString(org_id);
  return Blake2b256(encoder);
}

AuditHash AuditChainStep(const AuditHash& previous, const AuditEventFields& event) {
  EnsureSodiumInitialized();
  CanonicalEncoder encoder(kEventDomain);
  encoder.AddFixed(previous);
  encoder.AddString(event.org_id);
  encoder.AddU64(event.sequence);
  encoder.AddU64(static_cast<std::uint64_t>(event.time_unix_micros));
  encoder.AddString(event.principal);
  encoder.AddString(event.action);
  encoder.AddString(event.target);
  encoder.AddString(event.result);
  encoder.AddString(event.request_id);
  encoder.AddString(event.details);
  return Blake2b256(encoder);
}

}  // namespace credvault::crypto
