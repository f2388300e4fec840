#include "server/telemetry/json_log.h"

#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace credvault::server {
namespace {

class JsonLogTest : public ::testing::Test {
 protected:
  JsonLogTest() { JsonLog::SetSinkForTesting(&out_); }
  ~JsonLogTest() override { JsonLog::SetSinkForTesting(nullptr); }

  nlohmann::json OnlyLine() {
    const std::string text = out_.str();
    EXPECT_EQ(text.back(), '\n');
    EXPECT_EQ(text.find('\n'), text.size() - 1) << "one line per call";
    return nlohmann::json::parse(text);  // throws, failing the test, on invalid JSON
  }

  std::ostringstream out_;
};

TEST_F(JsonLogTest, WritesOneJsonObjectPerLineWithEveryField) {
  LogInfo("rpc", {{"method", "PutCredential"}, {"code", "OK"}, {"ms", "3"}});
  const nlohmann::json line = OnlyLine();
  EXPECT_EQ(line["msg"], "rpc");
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["method"], "PutCredential");
  EXPECT_EQ(line["code"], "OK");
  EXPECT_EQ(line["ms"], "3");
  EXPECT_EQ(line["time"].get<std::string>().size(),
            std::string("2026-01-01T00:00:00.000000Z").size());
}

TEST_F(JsonLogTest, EscapesWhatJsonNeedsAndReplacesInvalidUtf8) {
  const std::string awkward = std::string("quote \" backslash \\ newline \n tab \t nul ") +
                              std::string(1, '\0') + " bell \x07 é 日本 \xF0\x9F\x94\x91";
  const std::string invalid = "bad \xC3 lone \x80 overlong \xC0\xAF surrogate \xED\xA0\x80 end";
  LogWarning("odd input", {{"error", awkward}, {"org_id", invalid}});
  const nlohmann::json line = OnlyLine();
  EXPECT_EQ(line["error"], awkward);
  const std::string replaced = line["org_id"];
  EXPECT_EQ(replaced.find('\x80'), std::string::npos);
  EXPECT_NE(replaced.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(replaced.substr(0, 4), "bad ");
  EXPECT_EQ(replaced.substr(replaced.size() - 4), " end");
}

TEST_F(JsonLogTest, FieldsCannotOverrideTheLinesOwnKeys) {
  LogError("real message", {{"msg", "forged"}, {"level", "debug"}, {"request_id", "r1"}});
  const nlohmann::json line = OnlyLine();
  EXPECT_EQ(line["msg"], "real message");
  EXPECT_EQ(line["level"], "error");
  EXPECT_EQ(line["request_id"], "r1");
}

TEST_F(JsonLogTest, LinesBelowTheMinimumLevelAreDropped) {
  JsonLog::SetMinimumLevel(Severity::kWarning);
  LogInfo("quiet");
  JsonLog::SetMinimumLevel(Severity::kInfo);
  EXPECT_TRUE(out_.str().empty());
}

}  // namespace
}  // namespace credvault::server
