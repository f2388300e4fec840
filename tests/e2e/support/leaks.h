// Searching a text (a log, a metrics page, a database dump) for a secret in every form it
// could have been written in: itself, hex in either case, base64 and base64url at each
// alignment (docs/security-model.md: no secret outside its envelope).
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_LEAKS_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_LEAKS_H_

#include <string>
#include <vector>

namespace credvault::e2e {

// Every rendering of `secret` that is searched for.
std::vector<std::string> SecretRenderings(const std::string& secret);

// The renderings of `secret` found in `text`; empty if none.
std::vector<std::string> Leaks(const std::string& text, const std::string& secret);

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_LEAKS_H_
