#ifndef CREDVAULT_SERVER_BASE_AUDIT_DETAILS_H_
#define CREDVAULT_SERVER_BASE_AUDIT_DETAILS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// The free-text details of the audit events that the service reads back, as types: each
// Format writes the exact text events have always carried (stored chains and exports hold
// it, and the chain hashes cover it), and each Parse reads what Format wrote, and what
// earlier releases wrote, back. Actions are in server/base/audit_actions.h.
namespace credvault::server {

// An org.create event: "org key version 1, root key version <n>", then
// ", idempotency_key=<key>" when the request carried one. A retried CreateOrg finds its
// org through the key (docs/api.md).
struct OrgCreateDetails {
  std::uint32_t root_key_version = 0;
  std::string idempotency_key;  // empty when the request carried none

  std::string Format() const;
  // Fields that are missing are left empty (0 or "").
  static OrgCreateDetails Parse(std::string_view details);
};

// An org.destroy event: "reason: <reason>; every org private key destroyed;
// destroyed_key_versions=<v1,v2,...>; erased_credential_versions=<n>". The erasure receipt
// of a destroyed org is rebuilt from it. Events written before the key versions were listed
// lack that field.
struct OrgDestroyDetails {
  std::string reason;
  std::vector<std::uint32_t> destroyed_key_versions;
  std::uint64_t erased_credential_versions = 0;

  std::string Format() const;
  // Fields that are missing are left empty (0 or none); a count is read as its leading
  // digits.
  static OrgDestroyDetails Parse(std::string_view details);
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_BASE_AUDIT_DETAILS_H_
