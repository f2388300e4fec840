#include "cli/flag_values.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credvault::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;

TEST(ParseLabelTest, AcceptsValidLabels) {
  EXPECT_THAT(*ParseLabel("env=prod"), Pair("env", "prod"));
  EXPECT_THAT(*ParseLabel("a=b=c"), Pair("a", "b=c"));  // Split at the first '='.
  EXPECT_THAT(*ParseLabel("k="), Pair("k", ""));        // Empty values are allowed.
  EXPECT_THAT(*ParseLabel("0.team_x-y=Zürich ✓"), Pair("0.team_x-y", "Zürich ✓"));
  EXPECT_TRUE(ParseLabel(std::string(63, 'k') + "=v").ok());
  EXPECT_TRUE(ParseLabel("k=" + std::string(256, 'v')).ok());
}

TEST(ParseLabelTest, RejectsBadKeys) {
  for (const std::string& text : {std::string("=v"), std::string("Env=v"), std::string("-k=v"),
                                  std::string(".k=v"), std::string("k y=v"), std::string("k/y=v"),
                                  std::string(64, 'k') + "=v", std::string("novalue")}) {
    EXPECT_FALSE(ParseLabel(text).ok()) << text;
  }
}

TEST(ParseLabelTest, RejectsBadValues) {
  EXPECT_THAT(ParseLabel("k=" + std::string(257, 'v')).status().message(), HasSubstr("256"));
  EXPECT_THAT(ParseLabel("k=a\tb").status().message(), HasSubstr("control"));
  EXPECT_THAT(ParseLabel("k=a\x7f").status().message(), HasSubstr("control"));
  EXPECT_THAT(ParseLabel("k=\xc2\x85").status().message(), HasSubstr("control"));  // U+0085
  EXPECT_THAT(ParseLabel(std::string("k=a\0b", 5)).status().message(), HasSubstr("control"));
  EXPECT_THAT(ParseLabel("k=\xff").status().message(), HasSubstr("UTF-8"));
  EXPECT_THAT(ParseLabel("k=\xc0\xaf").status().message(), HasSubstr("UTF-8"));      // Overlong.
  EXPECT_THAT(ParseLabel("k=\xed\xa0\x80").status().message(), HasSubstr("UTF-8"));  // Surrogate.
  EXPECT_THAT(ParseLabel("k=\xe2\x82").status().message(), HasSubstr("UTF-8"));      // Truncated.
}

TEST(ParseLabelsTest, RejectsDuplicatesAndTooMany) {
  google::protobuf::Map<std::string, std::string> labels;
  EXPECT_TRUE(ParseLabels({"a=1", "b=2"}, "--label", &labels).ok());
  EXPECT_EQ(labels.size(), 2u);
  google::protobuf::Map<std::string, std::string> duplicate;
  EXPECT_THAT(ParseLabels({"a=1", "a=1"}, "--label", &duplicate).message(),
              HasSubstr("given twice"));
  std::vector<std::string> many;
  for (int i = 0; i <= kMaxLabels; ++i) many.push_back("k" + std::to_string(i) + "=v");
  google::protobuf::Map<std::string, std::string> too_many;
  EXPECT_FALSE(ParseLabels(many, "--label", &too_many).ok());
  many.pop_back();
  EXPECT_TRUE(ParseLabels(many, "--label", &too_many).ok());
}

TEST(ParseDurationTest, AcceptsGoStyleAndDays) {
  EXPECT_EQ(*ParsePositiveDuration("90s", "--x"), absl::Seconds(90));
  EXPECT_EQ(*ParsePositiveDuration("1h30m", "--x"), absl::Minutes(90));
  EXPECT_EQ(*ParsePositiveDuration("250ms", "--x"), absl::Milliseconds(250));
  EXPECT_EQ(*ParsePositiveDuration("30d", "--x"), absl::Hours(720));
}

TEST(ParseDurationTest, RejectsNonPositiveAndMalformed) {
  for (const char* text :
       {"", "0", "0s", "-5s", "5", "d", "-1d", "0d", "1.5d", "inf", "1 h", "99999999999999999d"}) {
    EXPECT_FALSE(ParsePositiveDuration(text, "--x").ok()) << text;
  }
  EXPECT_THAT(ParsePositiveDuration("soon", "--timeout").status().message(),
              HasSubstr("--timeout"));
}

TEST(ParseTtlTest, ConvertsToProtoDuration) {
  google::protobuf::Duration ttl = *ParseTtl("1h0m1.5s");
  EXPECT_EQ(ttl.seconds(), 3601);
  EXPECT_EQ(ttl.nanos(), 500'000'000);
  EXPECT_EQ(ParseTtl("7d")->seconds(), 7 * 86400);
  EXPECT_FALSE(ParseTtl("999ms").ok());
  EXPECT_TRUE(ParseTtl("1s").ok());
}

TEST(ParseRfc3339Test, ParsesZonesAndFractions) {
  google::protobuf::Timestamp t = *ParseRfc3339("2030-01-31T12:00:00Z", "--expires-at");
  EXPECT_EQ(t.seconds(), 1896091200);
  EXPECT_EQ(t.nanos(), 0);
  t = *ParseRfc3339("2030-01-31T13:00:00.25+01:00", "--expires-at");
  EXPECT_EQ(t.seconds(), 1896091200);
  EXPECT_EQ(t.nanos(), 250'000'000);
  // Before the epoch, nanos stay non-negative as a Timestamp requires.
  t = *ParseRfc3339("1969-12-31T23:59:59.5Z", "--expires-at");
  EXPECT_EQ(t.seconds(), -1);
  EXPECT_EQ(t.nanos(), 500'000'000);
}

TEST(ParseRfc3339Test, RejectsTimesWithoutZoneOrMalformed) {
  for (const char* text : {"2030-01-31T12:00:00", "2030-01-31 12:00:00Z", "2030-01-31", "tomorrow",
                           "", "2030-13-01T00:00:00Z", "infinite-future"}) {
    EXPECT_FALSE(ParseRfc3339(text, "--expires-at").ok()) << text;
  }
}

}  // namespace
}  // namespace credvault::cli
