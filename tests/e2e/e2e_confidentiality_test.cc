// A secret written through the API leaves no trace outside its envelope: not in the server
// logs, the metrics page, the audit log or any database column in clear. And clients other
// than these tests (the Node client, credvaultctl) work against the same server.
#include <google/protobuf/text_format.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/leaks.h"
#include "tests/e2e/support/superuser_sql.h"

namespace credvault::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("confidentiality"));

TEST(ConfidentialityTest, MarkerSecretLeavesNoTrace) {
  const Stack* stack = CurrentStack();
  ASSERT_NE(stack, nullptr);
  const std::string marker = "MARKER-" + RandomHex(16);
  const std::string org = "leak-" + RandomHex(6);
  Clients writer(TlsChannel(*stack, stack->write_addr, Caller::Cert("backend")));
  Clients decryptor(TlsChannel(*stack, stack->decrypt_addr, Caller::Cert("worker")));
  Clients admin(TlsChannel(*stack, stack->decrypt_addr, Caller::Token(stack->Token("admin"))));

  // The marker goes through every path that handles a secret: put (twice, the second an
  // idempotent replay), a replace, compare (match and no match), decrypt, erase.
  v1::PutCredentialRequest put = PutRequest(org, "leak/check", marker);
  (*put.mutable_labels())["kind"] = "leak-test";
  put.set_idempotency_key("leak-put-1");
  ASSERT_TRUE(Put(writer, put).ok());
  v1::PutCredentialResponse replayed;
  ASSERT_TRUE(Put(writer, put, &replayed).ok());
  EXPECT_TRUE(replayed.idempotent_replay());
  ASSERT_TRUE(Put(writer, PutRequest(org, "leak/erased", marker + "-erased")).ok());
  ASSERT_TRUE(Put(writer, PutRequest(org, "leak/check", marker + "-v2")).ok());
  for (const std::string& candidate : {marker, marker + "-v2", marker + "-wrong"}) {
    v1::CompareCredentialRequest compare;
    compare.set_org_id(org);
    compare.set_name("leak/check");
    compare.set_candidate(candidate);
    v1::CompareCredentialResponse compared;
    ASSERT_TRUE(Call(*writer.credentials, &v1::CredentialService::Stub::CompareCredential, compare,
                     &compared)
                    .ok());
  }
  std::string secret;
  ASSERT_TRUE(Decrypt(decryptor, org, "leak/check", &secret, 1, "leak check").ok());
  EXPECT_EQ(secret, marker);
  v1::DeleteCredentialRequest erase;
  erase.set_org_id(org);
  erase.set_name("leak/erased");
  erase.set_mode(v1::DELETION_MODE_ERASE);
  v1::DeleteCredentialResponse erased;
  ASSERT_TRUE(
      Call(*writer.credentials, &v1::CredentialService::Stub::DeleteCredential, erase, &erased)
          .ok());
  // Refusals that carry the secret too: an oversized put and a put without permission.
  EXPECT_EQ(Put(writer, PutRequest(org, "leak/big", marker + std::string(70000, '.'))).code,
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  Clients worker_on_write(TlsChannel(*stack, stack->write_addr, Caller::Cert("worker")));
  EXPECT_EQ(Put(worker_on_write, PutRequest(org, "leak/denied", marker)).code,
            grpc::StatusCode::PERMISSION_DENIED);

  // Server log (the JSON log on stderr and stdout). It does log the org, so the search
  // looks at the right text.
  const std::string log = stack->Log();
  EXPECT_THAT(log, HasSubstr(org));
  EXPECT_THAT(Leaks(log, marker), ::testing::IsEmpty()) << "in the server log";

  // Metrics page: no secret, no org id.
  const std::string metrics = HttpGet(stack->metrics_addr, "/metrics");
  EXPECT_THAT(metrics, HasSubstr("credvault_requests_total"));
  EXPECT_THAT(Leaks(metrics, marker), ::testing::IsEmpty()) << "on the metrics page";
  EXPECT_THAT(metrics, Not(HasSubstr(org)));

  // Audit log: every field of every event of the org.
  const std::vector<v1::AuditEvent> events = AuditEvents(admin, org);
  std::string audit;
  for (const v1::AuditEvent& event : events) {
    std::string text;
    google::protobuf::TextFormat::PrintToString(event, &text);
    audit += text + event.details() + event.target() + "\n";
  }
  EXPECT_THAT(audit, HasSubstr("credential.decrypt"));
  EXPECT_THAT(audit, HasSubstr("leak check"));
  EXPECT_THAT(Leaks(audit, marker), ::testing::IsEmpty()) << "in the audit log";

  // Every table of the database, dumped by the superuser.
  const std::string dump_command = SuperuserPgDump(*stack) + " --data-only credvault";
  const CommandResult dump = RunShell(dump_command);
  ASSERT_EQ(dump.exit_code, 0) << dump.output;
  EXPECT_THAT(dump.output, HasSubstr("leak/check")) << "the dump holds the credential rows";
  EXPECT_THAT(dump.output, HasSubstr(org));
  EXPECT_THAT(Leaks(dump.output, marker), ::testing::IsEmpty()) << "in the database dump";
}

TEST(ClientsTest, NodeClientPasses) {
  const Stack* stack = CurrentStack();
  ASSERT_NE(stack, nullptr);
  // node-deps.sh installs Node.js itself when it is missing.
  const std::string source = CREDVAULT_SOURCE_DIR;
  const CommandResult deps = RunShell(ShellQuote(source + "/scripts/node-deps.sh"));
  ASSERT_EQ(deps.exit_code, 0) << deps.output;
  const std::string client = "node " + ShellQuote(source + "/tests/node/client.mjs");

  // Client certificates from the dev PKI.
  const CommandResult with_certs =
      RunShell(client + " --write-addr " + stack->write_addr + " --decrypt-addr " +
               stack->decrypt_addr + " --pki " + ShellQuote(stack->pki) + " --org node-e2e");
  EXPECT_EQ(with_certs.exit_code, 0) << with_certs.output;

  // Bearer tokens only, creating the org first through AdminService.
  const std::string tokens = stack->pki + "/tokens/";
  const CommandResult with_tokens =
      RunShell(client + " --write-addr " + stack->write_addr + " --decrypt-addr " +
               stack->decrypt_addr + " --ca " + ShellQuote(stack->pki + "/ca.pem") +
               " --write-token-file " + ShellQuote(tokens + "backend.token") +
               " --decrypt-token-file " + ShellQuote(tokens + "worker.token") + " --admin-addr " +
               stack->decrypt_addr + " --admin-cert " + ShellQuote(stack->pki + "/admin.pem") +
               " --admin-key " + ShellQuote(stack->pki + "/admin.key") + " --org node-e2e-admin");
  EXPECT_EQ(with_tokens.exit_code, 0) << with_tokens.output;

  // What the Node client did is in the audit log of its org.
  Clients admin(TlsChannel(*stack, stack->decrypt_addr, Caller::Cert("admin")));
  bool decrypted = false;
  for (const v1::AuditEvent& event : AuditEvents(admin, "node-e2e")) {
    decrypted |= event.action() == "credential.decrypt" && event.result() == "ok";
  }
  EXPECT_TRUE(decrypted);
}

TEST(ClientsTest, CredvaultctlRoundTrip) {
  const Stack* stack = CurrentStack();
  ASSERT_NE(stack, nullptr);
  const std::string pki = stack->pki + "/";
  const auto ctl = [&](const std::string& address, const std::string& who) {
    return ShellQuote(CREDVAULTCTL_PATH) + " --addr " + address + " --ca-file " +
           ShellQuote(pki + "ca.pem") + " --cert-file " + ShellQuote(pki + who + ".pem") +
           " --key-file " + ShellQuote(pki + who + ".key") + " ";
  };
  const std::string secret = "ctl-" + RandomHex(12);
  const std::string secret_file = stack->dir + "/ctl-secret";
  WriteFileOrDie(secret_file, secret);

  CommandResult result = RunShell(ctl(stack->write_addr, "backend") + "put ctl-org app/db < " +
                                  ShellQuote(secret_file));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, Not(HasSubstr(secret)));
  result = RunShell(ctl(stack->write_addr, "backend") + "describe ctl-org app/db --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("app/db"));
  result = RunShell(ctl(stack->write_addr, "backend") + "compare ctl-org app/db --secret-file " +
                    ShellQuote(secret_file));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  result = RunShell(ctl(stack->decrypt_addr, "worker") +
                    "decrypt ctl-org app/db --purpose 'e2e round trip' 2>/dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.substr(0, secret.size()), secret);
  result = RunShell(ctl(stack->decrypt_addr, "admin") + "audit verify ctl-org");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  // A refusal gives a non-zero exit status.
  result = RunShell(ctl(stack->decrypt_addr, "backend") +
                    "decrypt ctl-org app/db --purpose 'not allowed' 2>&1");
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, Not(HasSubstr(secret)));
}

}  // namespace
}  // namespace credvault::e2e
