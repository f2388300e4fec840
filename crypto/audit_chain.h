#ifndef CREDVAULT_CRYPTO_AUDIT_CHAIN_H_
#define CREDVAULT_CRYPTO_AUDIT_CHAIN_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace credvault::crypto {

// One link of an org's audit hash chain. Two formats exist; each event is hashed by its
// own, and hash(n-1) is the previous event's hash whatever format that event has.
//
// Format 1, computed by the service:
//   genesis(org) = BLAKE2b-256("credvault.audit.genesis.v1" || str(org))
//   hash(n) = BLAKE2b-256("credvault.audit.event.v1" || hash(n-1) || canonical(event n))
// canonical() encodes every field in a fixed order, strings as u32 big-endian length then
// bytes, integers as fixed-width big-endian, so no two different events encode alike.
//
// Format 2, computed inside PostgreSQL by the function that appends events (PostgreSQL has
// sha256(bytea) but no BLAKE2b), and committing also to the database role that appended:
//   genesis_v2(org) = SHA-256(str("credvault.audit.genesis.v2") || str(org))
//   hash_v2(n) = SHA-256(str("credvault.audit.event.v2") || hash(n-1) (32 raw bytes)
//                || str(org) || u64(seq) || u64(time micros, two's complement)
//                || str(principal) || str(action) || str(target) || str(result)
//                || str(request_id) || str(details) || str(appended_by))
// where str(s) is the u32 big-endian byte length of s then its bytes, and u64(x) is 8
// bytes big-endian (CanonicalEncoder in canonical_encoding.h). Event 1 links to the
// genesis of its own format, so an upgraded chain holds format 1 events, then format 2.
//
// Format 2 test vector (pinned by KnownAnswerTest.AuditChainFormat2 and listed in
// docs/crypto.md, for the SQL implementation to compare against):
//   genesis_v2("acme") =
//     4ddcbe461a908fba0b515cb7f4a9c8048ea2958878166fe81acc5f964c3e3428
//   event 1: org "acme", seq 1, time 1767225600000000, principal "spiffe://acme/backend",
//     action "credential.put", target "crm/salesforce", result "ok", request_id "req-0001",
//     details "", appended_by "credvault_writer", prev = genesis_v2("acme"):
//     3e5b6d7ba5c5580be94dffd6e8bbb83d7a680c6c98519b247299d4029e3d91b7
//   event 2: org "acme", seq 2, time -1, principal "spiffe://acme/worker",
//     action "credential.decrypt", target "crm/salesforce", result "ok",
//     request_id "req-0002", details "purpose=sync caf\u00e9" (UTF-8, 18 bytes),
//     appended_by "credvault_decryptor", prev = event 1:
//     6102cf270a0aabb8b4c02ebda616893e87d826010db5930e8f567387a6d2256e
//
// The chain is unkeyed on purpose: anyone holding an export can recompute it; signed
// checkpoints (not here) make it unforgeable.

inline constexpr std::size_t kAuditHashSize = 32;
using AuditHash = std::array<std::uint8_t, kAuditHashSize>;

// The chain format of an event. Values are those of credvault.v1.AuditEvent.chain_format
// (where 0 also means kV1).
enum class AuditChainFormat : std::uint32_t { kV1 = 1, kV2 = 2 };

// Whether `format` is one this code can hash. An event read from outside (an export, a
// database row) may carry any number; it must be checked before it is hashed.
bool IsKnownAuditChainFormat(AuditChainFormat format);

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
  // The database role that appended the event. Format 2 only: format 1 ignores it.
  // (Initialised so that initialisers listing only the fields above stay complete.)
  std::string appended_by{};
  AuditChainFormat format = AuditChainFormat::kV1;
};

// The value that stands in for hash(0) of an org: binds the chain to its org, so a chain
// cannot be transplanted to another org. The one-argument form is format 1. An unknown
// format gives the all-zero hash, which no chain links to except by a forged prev_hash.
AuditHash AuditChainGenesis(std::string_view org_id);
AuditHash AuditChainGenesis(std::string_view org_id, AuditChainFormat format);

// hash(n) from hash(n-1) and event n, by event.format. An unknown format gives the
// all-zero hash; callers check IsKnownAuditChainFormat on events they did not make.
AuditHash AuditChainStep(const AuditHash& previous, const AuditEventFields& event);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_AUDIT_CHAIN_H_
