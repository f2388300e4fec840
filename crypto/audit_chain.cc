#include "crypto/audit_chain.h"

#include <sodium.h>

#include "crypto/canonical_encoding.h"
#include "crypto/sodium_init.h"

namespace credvault::crypto {
namespace {

constexpr std::string_view kGenesisDomainV1 = "credvault.audit.genesis.v1";
constexpr std::string_view kEventDomainV1 = "credvault.audit.event.v1";
constexpr std::string_view kGenesisDomainV2 = "credvault.audit.genesis.v2";
constexpr std::string_view kEventDomainV2 = "credvault.audit.event.v2";

static_assert(crypto_hash_sha256_BYTES == kAuditHashSize);

AuditHash Blake2b256(const CanonicalEncoder& encoder) {
  AuditHash out;
  const auto bytes = encoder.bytes();
  crypto_generichash(out.data(), out.size(), bytes.data(), bytes.size(), nullptr, 0);
  return out;
}

AuditHash Sha256(const CanonicalEncoder& encoder) {
  AuditHash out;
  const auto bytes = encoder.bytes();
  crypto_hash_sha256(out.data(), bytes.data(), bytes.size());
  return out;
}

// The fields both formats share, in their common order after the previous hash.
void AddCommonFields(const AuditHash& previous, const AuditEventFields& event,
                     CanonicalEncoder& encoder) {
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
}

}  // namespace

bool IsKnownAuditChainFormat(AuditChainFormat format) {
  return format == AuditChainFormat::kV1 || format == AuditChainFormat::kV2;
}

AuditHash AuditChainGenesis(std::string_view org_id) {
  return AuditChainGenesis(org_id, AuditChainFormat::kV1);
}

AuditHash AuditChainGenesis(std::string_view org_id, AuditChainFormat format) {
  EnsureSodiumInitialized();
  switch (format) {
    case AuditChainFormat::kV1: {
      CanonicalEncoder encoder(kGenesisDomainV1);
      encoder.AddString(org_id);
      return Blake2b256(encoder);
    }
    case AuditChainFormat::kV2: {
      CanonicalEncoder encoder(kGenesisDomainV2);
      encoder.AddString(org_id);
      return Sha256(encoder);
    }
  }
  return AuditHash{};
}

AuditHash AuditChainStep(const AuditHash& previous, const AuditEventFields& event) {
  EnsureSodiumInitialized();
  switch (event.format) {
    case AuditChainFormat::kV1: {
      // appended_by is not part of format 1: its events predate the field.
      CanonicalEncoder encoder(kEventDomainV1);
      AddCommonFields(previous, event, encoder);
      return Blake2b256(encoder);
    }
    case AuditChainFormat::kV2: {
      CanonicalEncoder encoder(kEventDomainV2);
      AddCommonFields(previous, event, encoder);
      encoder.AddString(event.appended_by);
      return Sha256(encoder);
    }
  }
  return AuditHash{};
}

}  // namespace credvault::crypto
