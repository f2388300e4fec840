#include "cli/command_line.h"

#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "cli/flag_values.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/cli_test_util.h"

namespace credvault::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class CommandLineTest : public ::testing::Test {
 protected:
  ParseResult Parse(std::vector<std::string> args) {
    testutil::Argv argv(std::move(args));
    return ParseCommandLine(argv.argc(), argv.argv(), fake_.env());
  }

  // Parses a command line that must be valid and returns its command as T.
  template <typename T>
  T ParseAs(std::vector<std::string> args) {
    ParseResult result = Parse(std::move(args));
    EXPECT_TRUE(result.invocation.has_value()) << fake_.err.str();
    if (!result.invocation.has_value()) return T();
    last_ = *result.invocation;
    EXPECT_TRUE(std::holds_alternative<T>(last_.command));
    if (!std::holds_alternative<T>(last_.command)) return T();
    return std::get<T>(last_.command);
  }

  void ExpectUsageError(std::vector<std::string> args, const std::string& message) {
    fake_.err.str("");
    ParseResult result = Parse(args);
    EXPECT_FALSE(result.invocation.has_value());
    EXPECT_EQ(result.exit_code, kExitUsage);
    EXPECT_THAT(fake_.err.str(), HasSubstr(message));
  }

  testutil::FakeEnvironment fake_;
  Invocation last_;
};

TEST_F(CommandLineTest, PutBuildsTheRequestWithoutASecret) {
  PutCommand put = ParseAs<PutCommand>({"put", "acme", "crm/salesforce", "--label", "env=prod",
                                        "--label", "team=crm", "--expected-version", "3", "--ttl",
                                        "24h", "--max-versions", "5"});
  const v1::PutCredentialRequest& r = put.request;
  EXPECT_EQ(r.org_id(), "acme");
  EXPECT_EQ(r.name(), "crm/salesforce");
  EXPECT_TRUE(r.secret().empty());
  EXPECT_TRUE(put.secret_file.empty());
  EXPECT_THAT(r.labels(), UnorderedElementsAre(Pair("env", "prod"), Pair("team", "crm")));
  EXPECT_EQ(r.precondition_case(), v1::PutCredentialRequest::kExpectedVersion);
  EXPECT_EQ(r.expected_version(), 3u);
  EXPECT_EQ(r.ttl().seconds(), 86400);
  EXPECT_TRUE(r.has_max_versions());
  EXPECT_EQ(r.max_versions(), 5u);
  EXPECT_EQ(r.idempotency_key(), "test-key-1");
  EXPECT_EQ(last_.connection.target, kDefaultWriteAddress);
}

TEST_F(CommandLineTest, PutOptionalFieldsStayUnsetWhenNotGiven) {
  PutCommand put = ParseAs<PutCommand>({"put", "acme", "db", "--secret-file", "/run/s"});
  EXPECT_EQ(put.secret_file, "/run/s");
  EXPECT_EQ(put.request.precondition_case(), v1::PutCredentialRequest::PRECONDITION_NOT_SET);
  EXPECT_EQ(put.request.expiration_case(), v1::PutCredentialRequest::EXPIRATION_NOT_SET);
  EXPECT_FALSE(put.request.has_max_versions());
  EXPECT_TRUE(put.request.labels().empty());
}

TEST_F(CommandLineTest, PutMustNotExistAndExpiresAt) {
  PutCommand put = ParseAs<PutCommand>({"put", "acme", "db", "--must-not-exist", "--expires-at",
                                        "2030-01-31T12:00:00Z", "--max-versions", "0"});
  EXPECT_TRUE(put.request.must_not_exist());
  EXPECT_EQ(put.request.expire_time().seconds(), 1896091200);
  EXPECT_TRUE(put.request.has_max_versions());
  EXPECT_EQ(put.request.max_versions(), 0u);
}

TEST_F(CommandLineTest, EachInvocationDrawsAFreshIdempotencyKeyUnlessOneIsGiven) {
  EXPECT_EQ(ParseAs<PutCommand>({"put", "a", "n"}).request.idempotency_key(), "test-key-1");
  EXPECT_EQ(ParseAs<PutCommand>({"put", "a", "n"}).request.idempotency_key(), "test-key-2");
  EXPECT_EQ(ParseAs<PutCommand>({"put", "a", "n", "--idempotency-key", "retry:42"})
                .request.idempotency_key(),
            "retry:42");
  ExpectUsageError({"put", "a", "n", "--idempotency-key", "has space"}, "--idempotency-key");
  ExpectUsageError({"put", "a", "n", "--idempotency-key", std::string(129, 'k')},
                   "1-128 characters");
}

TEST_F(CommandLineTest, TheSecretIsNeverAcceptedFromArgv) {
  ExpectUsageError({"put", "acme", "db", "hunter2"}, "not expected");
  ExpectUsageError({"put", "acme", "db", "--secret", "hunter2"}, "not expected");
  ExpectUsageError({"put", "acme", "db", "--secret=hunter2"}, "not expected");
  ExpectUsageError({"compare", "acme", "db", "hunter2"}, "not expected");
  // And the rejected value is not echoed back as if it were anything but an argument.
  fake_.err.str("");
  Parse({"put", "acme", "db", "--secret-file"});
  EXPECT_THAT(fake_.err.str(), HasSubstr("--secret-file"));
}

TEST_F(CommandLineTest, RequiredArgumentsAndConflictsAreUsageErrors) {
  ExpectUsageError({}, "A subcommand is required");
  ExpectUsageError({"put", "acme"}, "name is required");
  ExpectUsageError({"put", "acme", "db", "--expected-version", "2", "--must-not-exist"},
                   "excludes");
  ExpectUsageError({"put", "acme", "db", "--ttl", "1h", "--expires-at", "2030-01-01T00:00:00Z"},
                   "excludes");
  ExpectUsageError({"put", "acme", "db", "--expected-version", "0"}, "--expected-version");
  ExpectUsageError({"put", "acme", "db", "--expected-version", "-1"}, "--expected-version");
  ExpectUsageError({"put", "acme", "db", "--max-versions", "101"}, "--max-versions");
  ExpectUsageError({"put", "acme", "db", "--ttl", "soon"}, "--ttl");
  ExpectUsageError({"put", "acme", "db", "--ttl", "500ms"}, "at least 1s");
  ExpectUsageError({"put", "acme", "db", "--expires-at", "2030-01-31 12:00"}, "--expires-at");
  ExpectUsageError({"decrypt", "acme", "db"}, "--purpose is required");
  ExpectUsageError({"org", "destroy", "acme", "--reason", "offboarding"}, "--confirm is required");
  ExpectUsageError({"audit", "export", "acme"}, "--output is required");
  ExpectUsageError({"org"}, "A subcommand is required");
  ExpectUsageError({"list", "acme", "--page-size", "0"}, "--page-size");
}

TEST_F(CommandLineTest, LabelsAreValidated) {
  ExpectUsageError({"put", "acme", "db", "--label", "Env=prod"}, "--label: label key");
  ExpectUsageError({"put", "acme", "db", "--label", "novalue"}, "key=value");
  ExpectUsageError({"put", "acme", "db", "--label", "a=1", "--label", "a=2"}, "given twice");
  ExpectUsageError({"list", "acme", "--label", "k=\x01"}, "control characters");
  std::vector<std::string> args = {"put", "acme", "db"};
  for (int i = 0; i < kMaxLabels + 1; ++i) {
    args.push_back("--label");
    args.push_back("k" + std::to_string(i) + "=v");
  }
  ExpectUsageError(args, "at most 32 labels");
}

TEST_F(CommandLineTest, DeleteDescribeListCompare) {
  DeleteCommand del =
      ParseAs<DeleteCommand>({"delete", "acme", "db", "--erase", "--expected-version", "7"});
  EXPECT_EQ(del.request.mode(), v1::DELETION_MODE_ERASE);
  EXPECT_TRUE(del.request.has_expected_version());
  EXPECT_EQ(del.request.expected_version(), 7u);
  EXPECT_FALSE(del.request.idempotency_key().empty());
  EXPECT_EQ(ParseAs<DeleteCommand>({"delete", "acme", "db"}).request.mode(),
            v1::DELETION_MODE_SOFT);
  EXPECT_FALSE(ParseAs<DeleteCommand>({"delete", "acme", "db"}).request.has_expected_version());

  DescribeCommand describe =
      ParseAs<DescribeCommand>({"describe", "acme", "db", "--version", "2", "--include-deleted"});
  EXPECT_EQ(describe.request.version(), 2u);
  EXPECT_TRUE(describe.request.show_deleted());
  EXPECT_FALSE(ParseAs<DescribeCommand>({"describe", "acme", "db"}).request.has_version());

  ListCommand list = ParseAs<ListCommand>({"list", "acme", "--prefix", "crm/", "--label",
                                           "env=prod", "--page-size", "20", "--page-token", "t1",
                                           "--all", "--include-deleted"});
  EXPECT_EQ(list.request.name_prefix(), "crm/");
  EXPECT_THAT(list.request.label_selector(), UnorderedElementsAre(Pair("env", "prod")));
  EXPECT_EQ(list.request.page_size(), 20);
  EXPECT_EQ(list.request.page_token(), "t1");
  EXPECT_TRUE(list.request.include_deleted());
  EXPECT_TRUE(list.all);

  CompareCommand compare =
      ParseAs<CompareCommand>({"compare", "acme", "db", "--secret-file", "cand", "--version", "4"});
  EXPECT_EQ(compare.candidate_file, "cand");
  EXPECT_EQ(compare.request.version(), 4u);
  EXPECT_TRUE(compare.request.candidate().empty());
}

TEST_F(CommandLineTest, DecryptUsesTheDecryptListener) {
  DecryptCommand decrypt = ParseAs<DecryptCommand>(
      {"decrypt", "acme", "db", "--purpose", "sync contacts for job 8812", "--output", "out.bin"});
  EXPECT_EQ(decrypt.request.purpose(), "sync contacts for job 8812");
  EXPECT_EQ(decrypt.output_file, "out.bin");
  EXPECT_FALSE(decrypt.request.has_version());
  EXPECT_EQ(last_.connection.target, kDefaultDecryptAddress);
}

TEST_F(CommandLineTest, AdminCommands) {
  OrgCreateCommand create = ParseAs<OrgCreateCommand>({"org", "create", "acme"});
  EXPECT_EQ(create.request.org_id(), "acme");
  EXPECT_FALSE(create.request.idempotency_key().empty());
  EXPECT_EQ(last_.connection.target, kDefaultDecryptAddress);
  EXPECT_EQ(ParseAs<OrgDescribeCommand>({"org", "describe", "acme"}).request.org_id(), "acme");
  EXPECT_EQ(ParseAs<OrgRotateCommand>({"org", "rotate", "acme", "--idempotency-key", "r1"})
                .request.idempotency_key(),
            "r1");
  OrgDestroyCommand destroy = ParseAs<OrgDestroyCommand>(
      {"org", "destroy", "acme", "--confirm", "acme", "--reason", "offboarding, ticket 4411"});
  EXPECT_EQ(destroy.request.confirm_org_id(), "acme");
  EXPECT_EQ(destroy.request.reason(), "offboarding, ticket 4411");
  ExpectUsageError({"org", "destroy", "acme", "--confirm", "acme2", "--reason", "x"},
                   "--confirm: must repeat the org id");
  EXPECT_FALSE(ParseAs<RootRotateCommand>({"root", "rotate"}).request.idempotency_key().empty());

  OrgDestroyKeyCommand destroy_key = ParseAs<OrgDestroyKeyCommand>(
      {"org", "destroy-key", "acme", "3", "--reason", "rotation after staff change"});
  EXPECT_EQ(destroy_key.request.org_id(), "acme");
  EXPECT_EQ(destroy_key.request.key_version(), 3u);
  EXPECT_EQ(destroy_key.request.reason(), "rotation after staff change");
  EXPECT_EQ(last_.connection.target, kDefaultDecryptAddress);
  ExpectUsageError({"org", "destroy-key", "acme", "0", "--reason", "x"}, "VERSION: must be");
  ExpectUsageError({"org", "destroy-key", "acme", "4294967296", "--reason", "x"},
                   "VERSION: must be");
  ExpectUsageError({"org", "destroy-key", "acme", "3"}, "--reason");

  ResealGetCommand job = ParseAs<ResealGetCommand>({"reseal", "status", "acme", "job-7"});
  EXPECT_EQ(job.request.job_id(), "job-7");
  ResealListCommand jobs = ParseAs<ResealListCommand>({"reseal", "status", "_system", "--all"});
  EXPECT_EQ(jobs.request.org_id(), "_system");
  EXPECT_TRUE(jobs.all);
  ExpectUsageError({"reseal", "status", "acme", "job-7", "--all"}, "only when no JOB");

  AuditListCommand events =
      ParseAs<AuditListCommand>({"audit", "list", "acme", "--after-seq", "41", "--page-size", "100",
                                 "--action", "credential.decrypt"});
  EXPECT_EQ(events.request.start_sequence(), 42u);
  EXPECT_EQ(events.request.page_size(), 100);
  EXPECT_EQ(events.request.action(), "credential.decrypt");
  EXPECT_FALSE(ParseAs<AuditListCommand>({"audit", "list", "acme"}).request.has_start_sequence());
  EXPECT_EQ(ParseAs<AuditVerifyCommand>({"audit", "verify", "acme", "--end-seq", "9"})
                .request.end_sequence(),
            9u);
  AuditExportCommand out = ParseAs<AuditExportCommand>(
      {"audit", "export", "acme", "--output", "acme.jsonl", "--start-seq", "5"});
  EXPECT_EQ(out.output_file, "acme.jsonl");
  EXPECT_EQ(out.request.start_sequence(), 5u);
  EXPECT_FALSE(out.request.has_end_sequence());
}

TEST_F(CommandLineTest, AddressResolution) {
  fake_.variables["CREDVAULT_ADDR"] = "vault.internal:7443";
  fake_.variables["CREDVAULT_DECRYPT_ADDR"] = "vault-decrypt.internal:7444";
  ParseAs<ListCommand>({"list", "acme"});
  EXPECT_EQ(last_.connection.target, "vault.internal:7443");
  ParseAs<DecryptCommand>({"decrypt", "acme", "db", "--purpose", "p"});
  EXPECT_EQ(last_.connection.target, "vault-decrypt.internal:7444");
  ParseAs<OrgDescribeCommand>({"org", "describe", "acme"});
  EXPECT_EQ(last_.connection.target, "vault-decrypt.internal:7444");
  fake_.variables["CREDVAULT_ADMIN_ADDR"] = "vault-admin.internal:7445";
  ParseAs<OrgDescribeCommand>({"org", "describe", "acme"});
  EXPECT_EQ(last_.connection.target, "vault-admin.internal:7445");
  // --addr wins, and may follow the subcommand.
  ParseAs<OrgDescribeCommand>({"org", "describe", "acme", "--addr", "other:1"});
  EXPECT_EQ(last_.connection.target, "other:1");
  ParseAs<ListCommand>({"--addr", "first:2", "list", "acme"});
  EXPECT_EQ(last_.connection.target, "first:2");
}

TEST_F(CommandLineTest, ConnectionOptionsFromFlagsAndEnvironment) {
  fake_.variables["CREDVAULT_CA_FILE"] = "/etc/ca.pem";
  fake_.variables["CREDVAULT_TOKEN_FILE"] = "/run/token";
  ParseAs<ListCommand>({"list", "acme", "--cert-file", "c.pem", "--key-file", "k.pem",
                        "--server-name", "vault", "--timeout", "1m30s", "--json"});
  EXPECT_EQ(last_.connection.ca_file, "/etc/ca.pem");
  EXPECT_EQ(last_.connection.cert_file, "c.pem");
  EXPECT_EQ(last_.connection.key_file, "k.pem");
  EXPECT_EQ(last_.connection.server_name, "vault");
  EXPECT_EQ(last_.connection.token_file, "/run/token");
  EXPECT_EQ(last_.connection.timeout, absl::Seconds(90));
  EXPECT_TRUE(last_.json);
  EXPECT_FALSE(last_.connection.plaintext);

  ParseAs<ListCommand>({"list", "acme", "--token-file", "/mine"});
  EXPECT_EQ(last_.connection.token_file, "/mine");
  EXPECT_EQ(last_.connection.timeout, absl::Seconds(10));
}

TEST_F(CommandLineTest, PlaintextOnlyToLoopback) {
  ExpectUsageError({"--plaintext", "--addr", "vault.example.com:7443", "list", "acme"},
                   "--plaintext is allowed only for loopback");
  ExpectUsageError({"--plaintext", "--addr", "10.1.2.3:7443", "list", "acme"}, "loopback");
  ExpectUsageError(
      {"--plaintext", "--addr", "127.0.0.1:7443", "--ca-file", "ca.pem", "list", "acme"},
      "cannot be combined");
  ParseAs<ListCommand>({"--plaintext", "list", "acme"});
  EXPECT_TRUE(last_.connection.plaintext);
  ParseAs<ListCommand>({"--plaintext", "--addr", "[::1]:7443", "list", "acme"});
  // TLS settings from the environment do not conflict with an explicit --plaintext.
  fake_.variables["CREDVAULT_CA_FILE"] = "/etc/ca.pem";
  ParseAs<ListCommand>({"--plaintext", "list", "acme"});
  EXPECT_TRUE(last_.connection.ca_file.empty());
  ExpectUsageError({"list", "acme", "--cert-file", "c.pem"}, "must be given together");
  ExpectUsageError({"list", "acme", "--timeout", "0s"}, "--timeout");
}

TEST_F(CommandLineTest, AuditVerifyOfAnExportIsOfflineAndNeedsAPublicKey) {
  const AuditVerifyExportCommand offline =
      ParseAs<AuditVerifyExportCommand>({"audit", "verify", "--file", "acme.jsonl", "--public-key",
                                         "k1.pub", "--public-key", "k2.pub", "--json"});
  EXPECT_EQ(offline.export_file, "acme.jsonl");
  EXPECT_THAT(offline.public_key_files, ::testing::ElementsAre("k1.pub", "k2.pub"));
  EXPECT_TRUE(last_.json);
  // Nothing is dialled, so connection settings that would be refused do not matter.
  ParseAs<AuditVerifyExportCommand>({"--addr", "vault.example.com:7444", "--plaintext", "audit",
                                     "verify", "--file", "a.jsonl", "--public-key", "k.pub"});

  ExpectUsageError({"audit", "verify", "--file", "a.jsonl"}, "--file needs --public-key");
  ExpectUsageError({"audit", "verify", "acme", "--file", "a.jsonl", "--public-key", "k.pub"},
                   "exclude each other");
  ExpectUsageError(
      {"audit", "verify", "--file", "a.jsonl", "--public-key", "k.pub", "--end-seq", "3"},
      "--end-seq");
  ExpectUsageError({"audit", "verify", "acme", "--public-key", "k.pub"},
                   "--public-key applies only with --file");
  ExpectUsageError({"audit", "verify"}, "needs ORG");
  // The server-side form is unchanged.
  EXPECT_EQ(ParseAs<AuditVerifyCommand>({"audit", "verify", "acme"}).request.org_id(), "acme");
}

TEST_F(CommandLineTest, HelpExitsZeroAndDocumentsExitStatus) {
  ParseResult result = Parse({"--help"});
  EXPECT_FALSE(result.invocation.has_value());
  EXPECT_EQ(result.exit_code, kExitOk);
  EXPECT_THAT(fake_.out.str(), HasSubstr("EXIT STATUS"));
  EXPECT_THAT(fake_.out.str(), HasSubstr("17  PERMISSION_DENIED"));
  EXPECT_THAT(fake_.out.str(), HasSubstr("CREDVAULT_TOKEN"));
  EXPECT_THAT(fake_.out.str(), HasSubstr("audit verify --file EXPORT --public-key KEY"));
  fake_.out.str("");
  result = Parse({"put", "--help"});
  EXPECT_EQ(result.exit_code, kExitOk);
  EXPECT_THAT(fake_.out.str(), HasSubstr("--secret-file"));
  fake_.out.str("");
  result = Parse({"audit", "verify", "--help"});
  EXPECT_EQ(result.exit_code, kExitOk);
  EXPECT_THAT(fake_.out.str(), HasSubstr("--file"));
  EXPECT_THAT(fake_.out.str(), HasSubstr("--public-key"));
  EXPECT_THAT(fake_.out.str(), HasSubstr("OFFLINE AUDIT VERIFICATION"));
}

}  // namespace
}  // namespace credvault::cli
