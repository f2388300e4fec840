// The start every one-shot credvaultd command shares (init-root-key, key-directory-pins,
// rewrap-root-keys, pkcs11-generate-seal-key): help, usage errors and an unreadable
// configuration end the command with the right exit code and a message naming it.
#include "server/app/one_shot_command.h"

#include <cstdlib>
#include <string>
#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credvault::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr OneShotCommand kCommand{
    .name = "example-command",
    .usage = "usage: credvaultd example-command --config=FILE\n",
    .needs_decrypt_tier = true,
};

struct Outcome {
  std::variant<Config, int> start;
  std::string out;
  std::string err;
};

Outcome Start(const std::vector<std::string_view>& args) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  std::variant<Config, int> start = StartOneShotCommand(kCommand, args);
  std::string out = ::testing::internal::GetCapturedStdout();
  std::string err = ::testing::internal::GetCapturedStderr();
  return Outcome{std::move(start), std::move(out), std::move(err)};
}

int ExitCode(const Outcome& outcome) {
  const int* code = std::get_if<int>(&outcome.start);
  return code == nullptr ? -1 : *code;
}

class OneShotCommandTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("CREDVAULT_CONFIG"); }
};

TEST_F(OneShotCommandTest, HelpPrintsTheUsageOnStdoutAndSucceeds) {
  const Outcome outcome = Start({"--help"});
  EXPECT_EQ(ExitCode(outcome), 0);
  EXPECT_EQ(outcome.out, kCommand.usage);
  EXPECT_EQ(outcome.err, "");
}

TEST_F(OneShotCommandTest, AnUnknownArgumentIsNamedBeforeTheUsage) {
  const Outcome outcome = Start({"--config=/x.yaml", "--bogus"});
  EXPECT_EQ(ExitCode(outcome), 2);
  EXPECT_THAT(outcome.err, StartsWith("credvaultd example-command: unknown argument '--bogus'"));
  EXPECT_THAT(outcome.err, HasSubstr(std::string(kCommand.usage)));
  EXPECT_EQ(outcome.out, "");
}

TEST_F(OneShotCommandTest, TheConfigurationIsRequired) {
  const Outcome outcome = Start({});
  EXPECT_EQ(ExitCode(outcome), 2);
  EXPECT_THAT(outcome.err,
              StartsWith("credvaultd example-command: --config=FILE (or CREDVAULT_CONFIG)"));
}

TEST_F(OneShotCommandTest, AnUnreadableConfigurationEndsTheCommand) {
  const Outcome outcome = Start({"--config=/nonexistent/credvault.yaml"});
  EXPECT_EQ(ExitCode(outcome), 2);
  EXPECT_THAT(outcome.err, StartsWith("credvaultd example-command: configuration:\n"));
}

TEST_F(OneShotCommandTest, TheEnvironmentNamesTheConfigurationWhenNoFlagDoes) {
  setenv("CREDVAULT_CONFIG", "/nonexistent/from-environment.yaml", 1);
  const Outcome outcome = Start({});
  unsetenv("CREDVAULT_CONFIG");
  EXPECT_EQ(ExitCode(outcome), 2);
  EXPECT_THAT(outcome.err, StartsWith("credvaultd example-command: configuration:\n"));
  EXPECT_THAT(outcome.err, HasSubstr("from-environment.yaml"));
}

}  // namespace
}  // namespace credvault::server
