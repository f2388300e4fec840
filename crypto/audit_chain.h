#ifndef CREDVAULT_CRYPTO_AUDIT_CHAIN_H_
#define CREDVAULT_CRYPTO_AUDIT_CHAIN_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace credvault::crypto {

// One link of an org's audit hash chain:
//   hash(n) = BLAKE2b-256("credvault.audit.event.v1" || hash(n-1) || canonical(event n))
// canonical() encodes every field in a fixed order, strings as u32 big-endian length then
// bytes, integers as fixed-width big-endian, so no two different events encode alike.
// The chain is unkeyed on purpose: anyone holding an export can recompute it; signed
// checkpoints (not here) make it unforgeable.

inline constexpr std::size_t kAuditHashSize = 32;
using AuditHash = std::array<std::uint8_t, kAuditHashSize>;

// The fields of an audit event that the chain commits to. None of them may hold a secret or
// anything derived from a secret without a key.
struct AuditEventFields {
  std::string org_id;
  std::uint64_t sequence = 0;  // per-org, gapless, starting at 1
  std::int64_t time_unix_micros = 0;
  std::string principal;
  std::string action;  // e.g. "credential.put", "credential.decrypt"
  std::string target;  // e.g. the credential name; empty for org-wide actions
  std::string result;  // e.g. "ok", "denied", "not_found"
  std::string request_id;
  std::string details;  // non-secret detail such as a decrypt purpose
};

// The value that stands in for hash(0) of an org: binds the chain to its org, so a chain
// cannot be transplanted to another org.
AuditHash AuditChainGenesis(std::string_view org_id);

// hash(n) from hash(n-1) and event n.
AuditHash AuditChainStep(const AuditHash& previous, const AuditEventFields& event);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_AUDIT_CHAIN_H_
