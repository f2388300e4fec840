// A copy of the tables that hold keys and ciphertexts (orgs, root_keys, org_keys,
// credentials), every org at once, as the database superuser sees them (row-level security
// does not apply to a superuser): read directly, or parsed from a plain-format pg_dump. What
// an insider with a database backup holds (docs/security-model.md, crypto-shredding).
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_DATABASE_COPY_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_DATABASE_COPY_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {

using Bytes = std::vector<std::uint8_t>;

// "NAME@VERSION": how credential versions (and org key versions, "ORG@VERSION") are named.
std::string At(const std::string& name, std::uint64_t version);

// Lowercase hex of `bytes`, as a plain-format dump writes a bytea.
std::string HexOf(const Bytes& bytes);

struct RootKeyRow {
  std::uint32_t version = 0;
  Bytes public_key;
  Bytes sealed_private_key;
  std::string seal_key_id;
  std::string state;
  bool operator==(const RootKeyRow&) const = default;
};

struct OrgKeyRow {
  std::string org_id;
  std::uint32_t version = 0;
  Bytes public_key;
  std::optional<Bytes> sealed_private_key;  // nullopt: NULL
  std::uint32_t root_key_version = 0;
  std::string state;
  std::uint32_t directory_key_version = 0;  // 0: NULL
  Bytes signature;
  bool operator==(const OrgKeyRow&) const = default;
};

struct CredentialRow {
  std::string org_id;
  std::string name;
  std::uint64_t version = 0;
  std::optional<Bytes> envelope;  // nullopt: NULL
  std::uint32_t org_key_version = 0;
  bool erased = false;
  bool operator==(const CredentialRow&) const = default;
};

struct OrgRow {
  std::string org_id;
  std::string state;
  bool has_destroyed_at = false;
  bool operator==(const OrgRow&) const = default;
};

struct DatabaseCopy {
  std::vector<OrgRow> orgs;
  std::vector<RootKeyRow> root_keys;
  std::vector<OrgKeyRow> org_keys;
  std::vector<CredentialRow> credentials;
  bool operator==(const DatabaseCopy&) const = default;

  std::vector<OrgKeyRow> OrgKeysOf(const std::string& org) const {
    std::vector<OrgKeyRow> rows;
    for (const OrgKeyRow& row : org_keys) {
      if (row.org_id == org) rows.push_back(row);
    }
    return rows;
  }
  std::vector<CredentialRow> CredentialsOf(const std::string& org) const {
    std::vector<CredentialRow> rows;
    for (const CredentialRow& row : credentials) {
      if (row.org_id == org) rows.push_back(row);
    }
    return rows;
  }
};

std::ostream& operator<<(std::ostream& out, const OrgKeyRow& row);

// Every org key row, ordered by org and version, read directly as the superuser.
std::vector<OrgKeyRow> ReadOrgKeys(const Stack& stack);

// The four tables, read directly as the superuser; rows ordered by their keys.
DatabaseCopy ReadDatabaseCopy(const Stack& stack);

// The four tables from the COPY blocks of a plain-format pg_dump; rows ordered as
// ReadDatabaseCopy orders them, so that the two compare. A test failure for a table that is
// missing or malformed.
DatabaseCopy ParseDatabaseDump(const std::string& dump);

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_DATABASE_COPY_H_
