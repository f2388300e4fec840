#include "tests/e2e/support/leaks.h"

#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {

std::vector<std::string> SecretRenderings(const std::string& secret) {
  std::vector<std::string> needles = {secret, HexLower(secret), HexUpper(secret)};
  for (const std::string& b64 : Base64Needles(secret)) needles.push_back(b64);
  return needles;
}

std::vector<std::string> Leaks(const std::string& text, const std::string& secret) {
  std::vector<std::string> found;
  for (const std::string& needle : SecretRenderings(secret)) {
    if (text.find(needle) != std::string::npos) found.push_back(needle);
  }
  return found;
}

}  // namespace credvault::e2e
