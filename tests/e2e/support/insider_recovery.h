// The recovery attempt of an insider who holds every key file of the deployment (the seal
// key included) and a copy of the database (docs/security-model.md, crypto-shredding): the
// procedure that must recover every secret of an org that was not destroyed, and nothing of
// one that was.
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_INSIDER_RECOVERY_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_INSIDER_RECOVERY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/support/database_copy.h"

namespace credvault::e2e {

// Secrets by "name@version".
using Secrets = std::map<std::string, std::string>;

// What one recovery attempt found.
struct Recovery {
  std::set<std::uint32_t> root_keys_unwrapped;
  std::set<std::string> org_keys_unsealed;    // "org@version"
  std::size_t envelopes = 0;                  // envelopes of the org found in the copy
  Secrets recovered;                          // "name@version" -> plaintext
  std::vector<std::string> data_keys_opened;  // a sealed DEK opened by some key
  std::vector<std::string> problems;          // what did not go as the procedure expects
};

// Tries every file of `keys_dir` as the seal key on every root key of `copy`, unseals every
// org private key still sealed in the copy (checked against the key directory keys among
// the key files), opens each envelope of `org` with the key it names and, where that key is
// gone, tries every other private key there is on its sealed data key.
Recovery Recover(const DatabaseCopy& copy, const std::string& keys_dir, const std::string& org);

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_INSIDER_RECOVERY_H_
