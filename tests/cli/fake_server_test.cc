// Runs credvaultctl in-process against fake credvault services on 127.0.0.1 (port 0,
// plaintext: a loopback test server), and checks what actually goes over the wire.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "credvault/v1/admin_service.grpc.pb.h"
#include "credvault/v1/credential_access_service.grpc.pb.h"
#include "credvault/v1/credential_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/cli_test_util.h"

namespace credvault::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

constexpr char kBinarySecret[] = "pa\0ss\nw\xffrd\r\n";
const std::string& BinarySecret() {
  static const std::string* const secret =
      new std::string(kBinarySecret, sizeof(kBinarySecret) - 1);
  return *secret;
}

std::string Authorization(const grpc::ServerContext& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  return it == metadata.end() ? "" : std::string(it->second.data(), it->second.size());
}

class FakeCredentialService final : public v1::CredentialService::Service {
 public:
  grpc::Status PutCredential(grpc::ServerContext* context, const v1::PutCredentialRequest* request,
                             v1::PutCredentialResponse* response) override {
    std::lock_guard<std::mutex> lock(mu);
    puts.push_back(*request);
    authorizations.push_back(Authorization(*context));
    if (puts.size() <= fail_puts_with_unavailable) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "database unavailable");
    }
    v1::CredentialMetadata& m = *response->mutable_credential();
    m.set_org_id(request->org_id());
    m.set_name(request->name());
    m.set_version(1);
    m.set_current_version(1);
    *m.mutable_labels() = request->labels();
    m.set_state(v1::CREDENTIAL_STATE_ACTIVE);
    return grpc::Status::OK;
  }

  grpc::Status DescribeCredential(grpc::ServerContext* context,
                                  const v1::DescribeCredentialRequest* request,
                                  v1::DescribeCredentialResponse* response) override {
    std::lock_guard<std::mutex> lock(mu);
    authorizations.push_back(Authorization(*context));
    if (request->org_id() == "other") {
      context->AddTrailingMetadata("credvault-error-reason", "ERROR_REASON_UNSPECIFIED_TEST");
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "principal spiffe://test may not act for org other");
    }
    response->mutable_credential()->set_org_id(request->org_id());
    response->mutable_credential()->set_name(request->name());
    return grpc::Status::OK;
  }

  grpc::Status ListCredentials(grpc::ServerContext*, const v1::ListCredentialsRequest* request,
                               v1::ListCredentialsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu);
    list_tokens.push_back(request->page_token());
    if (request->page_token().empty()) {
      response->add_credentials()->set_name("a");
      response->set_next_page_token("page2");
    } else if (request->page_token() == "page2") {
      response->add_credentials()->set_name("b");
    } else {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_token: unknown");
    }
    return grpc::Status::OK;
  }

  grpc::Status CompareCredential(grpc::ServerContext*, const v1::CompareCredentialRequest* request,
                                 v1::CompareCredentialResponse* response) override {
    std::lock_guard<std::mutex> lock(mu);
    candidates.push_back(request->candidate());
    response->set_match(request->candidate() == BinarySecret());
    response->set_version(1);
    return grpc::Status::OK;
  }

  std::mutex mu;
  std::size_t fail_puts_with_unavailable = 0;
  std::vector<v1::PutCredentialRequest> puts;
  std::vector<std::string> authorizations;
  std::vector<std::string> list_tokens;
  std::vector<std::string> candidates;
};

class FakeAccessService final : public v1::CredentialAccessService::Service {
 public:
  grpc::Status DecryptCredential(grpc::ServerContext*, const v1::DecryptCredentialRequest* request,
                                 v1::DecryptCredentialResponse* response) override {
    std::lock_guard<std::mutex> lock(mu);
    purposes.push_back(request->purpose());
    response->set_secret(BinarySecret());
    response->mutable_credential()->set_name(request->name());
    response->set_audit_sequence(77);
    return grpc::Status::OK;
  }

  std::mutex mu;
  std::vector<std::string> purposes;
};

class FakeAdminService final : public v1::AdminService::Service {
 public:
  grpc::Status VerifyAuditLog(grpc::ServerContext*, const v1::VerifyAuditLogRequest*,
                              v1::VerifyAuditLogResponse* response) override {
    response->set_ok(false);
    response->set_first_broken_sequence(5);
    response->set_failure_reason(v1::AUDIT_VERIFICATION_FAILURE_PREV_HASH_MISMATCH);
    return grpc::Status::OK;
  }

  grpc::Status ExportAuditLog(grpc::ServerContext*, const v1::ExportAuditLogRequest* request,
                              grpc::ServerWriter<v1::ExportAuditLogResponse>* writer) override {
    v1::ExportAuditLogResponse first;
    first.add_signing_keys()->set_key_id("k1");
    first.add_checkpoints()->set_sequence(0);  // The anchor the range continues from.
    for (std::uint64_t sequence : {1, 2}) {
      v1::AuditEvent& event = *first.add_events();
      event.set_org_id(request->org_id());
      event.set_sequence(sequence);
      event.set_action("credential.put");
    }
    first.add_checkpoints()->set_sequence(2);
    writer->Write(first);
    v1::ExportAuditLogResponse second;
    v1::AuditEvent& event = *second.add_events();
    event.set_org_id(request->org_id());
    event.set_sequence(3);
    second.add_checkpoints()->set_sequence(3);
    writer->Write(second);
    if (fail_export) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broke");
    return grpc::Status::OK;
  }

  // Two pages of orgs, the second one DESTROYED; a state filter keeps only its orgs.
  grpc::Status ListOrgs(grpc::ServerContext*, const v1::ListOrgsRequest* request,
                        v1::ListOrgsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu);
    org_list_requests.push_back(*request);
    const auto add = [&](const std::string& id, v1::OrgState state, std::uint32_t key_version) {
      if (request->state() != v1::ORG_STATE_UNSPECIFIED && request->state() != state) return;
      v1::OrgSummary& org = *response->add_orgs();
      org.set_org_id(id);
      org.set_state(state);
      org.set_current_key_version(key_version);
      org.mutable_create_time()->set_seconds(1700000000);
      if (state == v1::ORG_STATE_DESTROYED) org.mutable_destroy_time()->set_seconds(1700000600);
    };
    if (request->page_token().empty()) {
      add("acme", v1::ORG_STATE_ACTIVE, 3);
      response->set_next_page_token("orgs-page2");
    } else if (request->page_token() == "orgs-page2") {
      add("gone\x1b[2J", v1::ORG_STATE_DESTROYED, 0);
    } else {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_token: unknown");
    }
    return grpc::Status::OK;
  }

  bool fail_export = false;
  std::mutex mu;
  std::vector<v1::ListOrgsRequest> org_list_requests;
};

class FakeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&credentials_);
    builder.RegisterService(&access_);
    builder.RegisterService(&admin_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
    dir_ = ::testing::TempDir() + "/credvaultctl_fake_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    mkdir(dir_.c_str(), 0700);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    if (stdin_fd_ >= 0) close(stdin_fd_);
  }

  // Feeds `bytes` to the tool's stdin.
  void SetStdin(const std::string& bytes) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    ASSERT_EQ(write(fds[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fds[1]);
    stdin_fd_ = fds[0];
    fake_.env().stdin_fd = stdin_fd_;
  }

  std::string WriteFile(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    return path;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream contents;
    contents << in.rdbuf();
    return contents.str();
  }

  // Runs credvaultctl against the fake server with `args` after the connection flags.
  int Run(std::vector<std::string> args) {
    std::vector<std::string> all = {"--addr", address_, "--plaintext", "--timeout", "5s"};
    all.insert(all.end(), args.begin(), args.end());
    testutil::Argv argv(all);
    return RunCli(argv.argc(), argv.argv(), fake_.env());
  }

  FakeCredentialService credentials_;
  FakeAccessService access_;
  FakeAdminService admin_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::string dir_;
  int stdin_fd_ = -1;
  testutil::FakeEnvironment fake_;
};

TEST_F(FakeServerTest, PutSendsStdinBytesExactlyWithKeyLabelsAndToken) {
  SetStdin(BinarySecret());
  const std::string token_file = WriteFile("token", "tok-123\n");
  ASSERT_EQ(Run({"--token-file", token_file, "put", "acme", "db/password", "--label", "env=prod",
                 "--label", "team=crm"}),
            kExitOk)
      << fake_.err.str();
  ASSERT_EQ(credentials_.puts.size(), 1u);
  const v1::PutCredentialRequest& sent = credentials_.puts[0];
  EXPECT_EQ(sent.secret(), BinarySecret());
  EXPECT_EQ(sent.org_id(), "acme");
  EXPECT_EQ(sent.name(), "db/password");
  EXPECT_EQ(sent.idempotency_key(), "test-key-1");
  EXPECT_THAT(sent.labels(), UnorderedElementsAre(Pair("env", "prod"), Pair("team", "crm")));
  EXPECT_EQ(credentials_.authorizations[0], "Bearer tok-123");
  EXPECT_THAT(fake_.out.str(), HasSubstr("\nname:               db/password\n"));
  EXPECT_THAT(fake_.err.str(), IsEmpty());
}

TEST_F(FakeServerTest, PutFromSecretFileAsJson) {
  const std::string secret_file = WriteFile("secret", BinarySecret());
  ASSERT_EQ(Run({"put", "acme", "db", "--secret-file", secret_file, "--json"}), kExitOk)
      << fake_.err.str();
  ASSERT_EQ(credentials_.puts.size(), 1u);
  EXPECT_EQ(credentials_.puts[0].secret(), BinarySecret());
  EXPECT_EQ(credentials_.authorizations[0], "");  // No token configured: no header.
  const nlohmann::json printed = nlohmann::json::parse(fake_.out.str());
  EXPECT_EQ(printed["credential"]["name"], "db");
  EXPECT_EQ(printed["idempotent_replay"], false);
}

TEST_F(FakeServerTest, UnavailableIsRetriedWithTheSameIdempotencyKeyAndSecret) {
  credentials_.fail_puts_with_unavailable = 1;
  SetStdin(BinarySecret());
  ASSERT_EQ(Run({"put", "acme", "db"}), kExitOk) << fake_.err.str();
  ASSERT_EQ(credentials_.puts.size(), 2u);
  EXPECT_EQ(credentials_.puts[1].idempotency_key(), credentials_.puts[0].idempotency_key());
  EXPECT_EQ(credentials_.puts[1].secret(), BinarySecret());
}

TEST_F(FakeServerTest, PersistentUnavailableExitsWithItsCodeAndNamesTheKeyToReuse) {
  credentials_.fail_puts_with_unavailable = 100;
  SetStdin(BinarySecret());
  EXPECT_EQ(Run({"put", "acme", "db", "--idempotency-key", "k-9"}), 24);
  EXPECT_EQ(credentials_.puts.size(), 3u);  // The retry policy's maxAttempts.
  EXPECT_THAT(fake_.err.str(), HasSubstr("credvaultctl: UNAVAILABLE (14): database unavailable"));
  EXPECT_THAT(fake_.err.str(), HasSubstr("--idempotency-key k-9"));
  EXPECT_THAT(fake_.err.str(), Not(HasSubstr("ss\nw")));  // Nothing of the secret.
}

TEST_F(FakeServerTest, EmptySecretIsRefusedLocally) {
  SetStdin("");
  EXPECT_EQ(Run({"put", "acme", "db"}), kExitLocalError);
  EXPECT_THAT(fake_.err.str(), HasSubstr("stdin: the input is empty"));
  EXPECT_TRUE(credentials_.puts.empty());
}

TEST_F(FakeServerTest, ServerErrorsMapToExitCodesWithTheReason) {
  fake_.variables["CREDVAULT_TOKEN"] = "env-token";
  EXPECT_EQ(Run({"describe", "other", "db"}), 17);
  EXPECT_EQ(fake_.err.str(),
            "credvaultctl: PERMISSION_DENIED (7): principal spiffe://test may not act for org "
            "other [credvault-error-reason: ERROR_REASON_UNSPECIFIED_TEST]\n");
  EXPECT_THAT(fake_.out.str(), IsEmpty());
  EXPECT_EQ(credentials_.authorizations[0], "Bearer env-token");
}

TEST_F(FakeServerTest, MissingTokenFileIsALocalError) {
  EXPECT_EQ(Run({"--token-file", dir_ + "/absent", "describe", "acme", "db"}), kExitLocalError);
  EXPECT_THAT(fake_.err.str(), HasSubstr("--token-file"));
  EXPECT_TRUE(credentials_.authorizations.empty());
}

TEST_F(FakeServerTest, ListAllFollowsPageTokens) {
  ASSERT_EQ(Run({"list", "acme", "--all", "--json"}), kExitOk) << fake_.err.str();
  EXPECT_THAT(credentials_.list_tokens, ElementsAre("", "page2"));
  const nlohmann::json printed = nlohmann::json::parse(fake_.out.str());
  ASSERT_EQ(printed["credentials"].size(), 2u);
  EXPECT_EQ(printed["credentials"][0]["name"], "a");
  EXPECT_EQ(printed["credentials"][1]["name"], "b");
  EXPECT_EQ(printed["next_page_token"], "");
}

TEST_F(FakeServerTest, ListWithoutAllShowsTheNextPageToken) {
  ASSERT_EQ(Run({"list", "acme"}), kExitOk) << fake_.err.str();
  EXPECT_THAT(credentials_.list_tokens, ElementsAre(""));
  EXPECT_THAT(fake_.out.str(), HasSubstr("next_page_token: page2\n"));
}

TEST_F(FakeServerTest, OrgListAllFollowsPageTokensAndSendsTheStateFilter) {
  ASSERT_EQ(Run({"org", "list", "--all", "--state", "destroyed", "--page-size", "2", "--json"}),
            kExitOk)
      << fake_.err.str();
  ASSERT_EQ(admin_.org_list_requests.size(), 2u);
  EXPECT_EQ(admin_.org_list_requests[0].page_token(), "");
  EXPECT_EQ(admin_.org_list_requests[1].page_token(), "orgs-page2");
  for (const v1::ListOrgsRequest& sent : admin_.org_list_requests) {
    EXPECT_EQ(sent.state(), v1::ORG_STATE_DESTROYED);
    EXPECT_EQ(sent.page_size(), 2);
  }
  const nlohmann::json printed = nlohmann::json::parse(fake_.out.str());
  ASSERT_EQ(printed["orgs"].size(), 1u);
  EXPECT_EQ(printed["orgs"][0]["org_id"], "gone\x1b[2J");
  EXPECT_EQ(printed["orgs"][0]["state"], "ORG_STATE_DESTROYED");
  EXPECT_EQ(printed["next_page_token"], "");
}

TEST_F(FakeServerTest, OrgListPrintsATableAndTheNextPageToken) {
  ASSERT_EQ(Run({"org", "list"}), kExitOk) << fake_.err.str();
  ASSERT_EQ(admin_.org_list_requests.size(), 1u);
  EXPECT_EQ(admin_.org_list_requests[0].state(), v1::ORG_STATE_UNSPECIFIED);
  EXPECT_EQ(fake_.out.str(),
            "ORG_ID  STATE   KEY_VERSION  CREATED               DESTROYED\n"
            "acme    ACTIVE  3            2023-11-14T22:13:20Z  -\n"
            "next_page_token: orgs-page2\n");
}

TEST_F(FakeServerTest, OrgListEscapesOrgIdsFromTheServer) {
  ASSERT_EQ(Run({"org", "list", "--page-token", "orgs-page2"}), kExitOk) << fake_.err.str();
  EXPECT_THAT(fake_.out.str(), HasSubstr("gone\\x1b[2J  DESTROYED  -"));
  EXPECT_THAT(fake_.out.str(), Not(HasSubstr("\x1b")));
}

TEST_F(FakeServerTest, OrgListRefusesAnUnknownStateLocally) {
  EXPECT_EQ(Run({"org", "list", "--state", "retired"}), kExitUsage);
  EXPECT_TRUE(admin_.org_list_requests.empty());
}

TEST_F(FakeServerTest, CompareExitsZeroOnMatchAndOneOtherwise) {
  SetStdin(BinarySecret());
  EXPECT_EQ(Run({"compare", "acme", "db"}), kExitOk);
  EXPECT_THAT(fake_.out.str(), StartsWith("match"));
  close(stdin_fd_);
  SetStdin("guess");
  fake_.out.str("");
  EXPECT_EQ(Run({"compare", "acme", "db"}), kExitNegative);
  EXPECT_THAT(fake_.out.str(), StartsWith("no match"));
  EXPECT_THAT(credentials_.candidates, ElementsAre(BinarySecret(), "guess"));
}

TEST_F(FakeServerTest, DecryptWritesRawBytesToStdout) {
  const std::string out_path = dir_ + "/stdout";
  const int out_fd = open(out_path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(out_fd, 0);
  fake_.env().stdout_fd = out_fd;
  EXPECT_EQ(Run({"decrypt", "acme", "db", "--purpose", "nightly sync"}), kExitOk)
      << fake_.err.str();
  close(out_fd);
  EXPECT_EQ(ReadFile(out_path), BinarySecret());  // No newline added.
  EXPECT_THAT(fake_.err.str(), IsEmpty());        // Metadata only with --verbose.
  EXPECT_THAT(fake_.out.str(), IsEmpty());
  EXPECT_THAT(access_.purposes, ElementsAre("nightly sync"));
}

TEST_F(FakeServerTest, DecryptToANewPrivateFileWithVerboseMetadata) {
  const std::string path = dir_ + "/secret.out";
  EXPECT_EQ(Run({"decrypt", "acme", "db", "--purpose", "p", "--output", path, "-v", "--json"}),
            kExitOk)
      << fake_.err.str();
  EXPECT_EQ(ReadFile(path), BinarySecret());
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const nlohmann::json metadata = nlohmann::json::parse(fake_.err.str());
  EXPECT_EQ(metadata["credential"]["name"], "db");
  EXPECT_EQ(metadata["audit_sequence"], "77");
  EXPECT_FALSE(metadata.contains("secret"));

  // An existing file is never overwritten, and nothing is decrypted for it.
  fake_.err.str("");
  EXPECT_EQ(Run({"decrypt", "acme", "db", "--purpose", "p", "--output", path}), kExitLocalError);
  EXPECT_THAT(fake_.err.str(), HasSubstr("File exists"));
  EXPECT_EQ(access_.purposes.size(), 1u);
}

TEST_F(FakeServerTest, AuditVerifyOfABrokenChainExitsOne) {
  EXPECT_EQ(Run({"audit", "verify", "acme"}), kExitNegative);
  EXPECT_THAT(fake_.out.str(), HasSubstr("failure_reason:        PREV_HASH_MISMATCH"));
}

TEST_F(FakeServerTest, AuditExportWritesJsonLinesInOrder) {
  const std::string path = dir_ + "/acme.jsonl";
  ASSERT_EQ(Run({"audit", "export", "acme", "--output", path}), kExitOk) << fake_.err.str();
  std::vector<nlohmann::json> lines;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 9u);
  EXPECT_EQ(lines[0]["format"], "credvault.audit_export.v1");
  EXPECT_EQ(lines[0]["org_id"], "acme");
  EXPECT_EQ(lines[1]["signing_key"]["key_id"], "k1");
  EXPECT_EQ(lines[2]["checkpoint"]["sequence"], "0");
  EXPECT_EQ(lines[3]["event"]["sequence"], "1");
  EXPECT_EQ(lines[4]["event"]["sequence"], "2");
  EXPECT_EQ(lines[5]["checkpoint"]["sequence"], "2");
  EXPECT_EQ(lines[6]["event"]["sequence"], "3");
  EXPECT_EQ(lines[7]["checkpoint"]["sequence"], "3");
  EXPECT_EQ(lines[8]["end"]["events"], 3);
  EXPECT_EQ(lines[8]["end"]["checkpoints"], 3);
  EXPECT_EQ(lines[8]["end"]["signing_keys"], 1);
  EXPECT_THAT(fake_.out.str(), HasSubstr("exported 3 events"));
}

TEST_F(FakeServerTest, AFailedAuditExportLeavesNoFile) {
  admin_.fail_export = true;
  const std::string path = dir_ + "/partial.jsonl";
  EXPECT_EQ(Run({"audit", "export", "acme", "--output", path}), 24);
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace credvault::cli
