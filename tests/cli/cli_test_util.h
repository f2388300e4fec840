#ifndef CREDVAULT_TESTS_CLI_CLI_TEST_UTIL_H_
#define CREDVAULT_TESTS_CLI_CLI_TEST_UTIL_H_

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/environment.h"

namespace credvault::cli::testutil {

// An Environment with captured output, a fixed set of environment variables and
// predictable idempotency keys ("test-key-1", "test-key-2", ...).
class FakeEnvironment {
 public:
  FakeEnvironment() {
    env_.get_env = [this](absl::string_view name) -> std::optional<std::string> {
      const auto it = variables.find(std::string(name));
      if (it == variables.end()) return std::nullopt;
      return it->second;
    };
    env_.new_idempotency_key = [this] { return "test-key-" + std::to_string(++keys_issued_); };
    env_.out = &out;
    env_.err = &err;
  }
  FakeEnvironment(const FakeEnvironment&) = delete;
  FakeEnvironment& operator=(const FakeEnvironment&) = delete;

  Environment& env() { return env_; }

  std::map<std::string, std::string> variables;
  std::ostringstream out;
  std::ostringstream err;

 private:
  Environment env_;
  int keys_issued_ = 0;
};

// argv for ParseCommandLine/RunCli: {"credvaultctl", args...}.
class Argv {
 public:
  explicit Argv(std::vector<std::string> args) : storage_(std::move(args)) {
    storage_.insert(storage_.begin(), "credvaultctl");
    for (const std::string& arg : storage_) pointers_.push_back(arg.c_str());
  }
  int argc() const { return static_cast<int>(pointers_.size()); }
  const char* const* argv() const { return pointers_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<const char*> pointers_;
};

}  // namespace credvault::cli::testutil

#endif  // CREDVAULT_TESTS_CLI_CLI_TEST_UTIL_H_
