// Who may call what: every role refused outside its rights, tenants scoped to their orgs
// with refusals that do not reveal what exists, callers without valid credentials turned
// away; the write listener's API, read through server reflection, carries no secret
// material; and a write-only credvaultd serves the write API without any way to decrypt.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "gmock/gmock.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_support.h"

namespace credvault::e2e {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
namespace reflection = ::grpc::reflection::v1alpha;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("access"));

const Stack& TheStack() {
  const Stack* stack = CurrentStack();
  if (stack == nullptr) {
    std::cerr << "no stack\n";
    std::abort();
  }
  return *stack;
}

// One call of every RPC that names an org, for a caller; each returns the outcome.
struct Probe {
  std::string rpc;
  std::function<Outcome(Clients& write, Clients& decrypt, const std::string& org,
                        const std::string& name)>
      call;
};

std::vector<Probe> EveryRpc() {
  std::vector<Probe> probes;
  probes.push_back(
      {"PutCredential", [](Clients& w, Clients&, const std::string& org, const std::string& name) {
         return Put(w, PutRequest(org, name, "probe"));
       }});
  probes.push_back(
      {"DescribeCredential", [](Clients& w, Clients&, const std::string& org,
                                const std::string& name) { return Describe(w, org, name); }});
  probes.push_back(
      {"ListCredentials", [](Clients& w, Clients&, const std::string& org, const std::string&) {
         v1::ListCredentialsRequest request;
         request.set_org_id(org);
         v1::ListCredentialsResponse response;
         return Call(*w.credentials, &v1::CredentialService::Stub::ListCredentials, request,
                     &response);
       }});
  probes.push_back({"CompareCredential",
                    [](Clients& w, Clients&, const std::string& org, const std::string& name) {
                      v1::CompareCredentialRequest request;
                      request.set_org_id(org);
                      request.set_name(name);
                      request.set_candidate("guess");
                      v1::CompareCredentialResponse response;
                      return Call(*w.credentials, &v1::CredentialService::Stub::CompareCredential,
                                  request, &response);
                    }});
  probes.push_back({"DeleteCredential",
                    [](Clients& w, Clients&, const std::string& org, const std::string& name) {
                      v1::DeleteCredentialRequest request;
                      request.set_org_id(org);
                      request.set_name(name);
                      request.set_mode(v1::DELETION_MODE_ERASE);
                      v1::DeleteCredentialResponse response;
                      return Call(*w.credentials, &v1::CredentialService::Stub::DeleteCredential,
                                  request, &response);
                    }});
  probes.push_back(
      {"DecryptCredential", [](Clients&, Clients& d, const std::string& org,
                               const std::string& name) { return Decrypt(d, org, name); }});
  probes.push_back(
      {"CreateOrg", [](Clients&, Clients& d, const std::string& org, const std::string&) {
         v1::CreateOrgRequest request;
         request.set_org_id(org);
         v1::CreateOrgResponse response;
         return Call(*d.admin, &v1::AdminService::Stub::CreateOrg, request, &response);
       }});
  probes.push_back(
      {"DescribeOrg", [](Clients&, Clients& d, const std::string& org, const std::string&) {
         v1::DescribeOrgRequest request;
         request.set_org_id(org);
         v1::DescribeOrgResponse response;
         return Call(*d.admin, &v1::AdminService::Stub::DescribeOrg, request, &response);
       }});
  probes.push_back(
      {"RotateOrgKey", [](Clients&, Clients& d, const std::string& org, const std::string&) {
         v1::RotateOrgKeyRequest request;
         request.set_org_id(org);
         v1::RotateOrgKeyResponse response;
         return Call(*d.admin, &v1::AdminService::Stub::RotateOrgKey, request, &response);
       }});
  probes.push_back(
      {"DestroyOrg", [](Clients&, Clients& d, const std::string& org, const std::string&) {
         v1::DestroyOrgRequest request;
         request.set_org_id(org);
         request.set_confirm_org_id(org);
         request.set_reason("probe");
         v1::DestroyOrgResponse response;
         return Call(*d.admin, &v1::AdminService::Stub::DestroyOrg, request, &response);
       }});
  probes.push_back(
      {"ListAuditEvents", [](Clients&, Clients& d, const std::string& org, const std::string&) {
         v1::ListAuditEventsRequest request;
         request.set_org_id(org);
         v1::ListAuditEventsResponse response;
         return Call(*d.admin, &v1::AdminService::Stub::ListAuditEvents, request, &response);
       }});
  probes.push_back(
      {"VerifyAuditLog", [](Clients&, Clients& d, const std::string& org, const std::string&) {
         v1::VerifyAuditLogRequest request;
         request.set_org_id(org);
         v1::VerifyAuditLogResponse response;
         return Call(*d.admin, &v1::AdminService::Stub::VerifyAuditLog, request, &response);
       }});
  probes.push_back(
      {"ExportAuditLog", [](Clients&, Clients& d, const std::string& org, const std::string&) {
         v1::ExportAuditLogRequest request;
         request.set_org_id(org);
         std::unique_ptr<grpc::ClientContext> context = Context();
         auto reader = d.admin->ExportAuditLog(context.get(), request);
         v1::ExportAuditLogResponse chunk;
         while (reader->Read(&chunk)) {
         }
         const grpc::Status status = reader->Finish();
         return Outcome{status.error_code(), status.error_message(), ErrorReason(*context)};
       }});
  return probes;
}

class AccessControlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Stack* stack = CurrentStack();
    if (stack == nullptr) return;
    // Data in every org the tests probe, written by principals allowed to.
    Clients backend(TlsChannel(*stack, stack->write_addr, Caller::Cert("backend")));
    for (const char* org : {"org-a", "org-b", "shared"}) {
      const Outcome put = Put(backend, PutRequest(org, "exists", std::string("in ") + org));
      if (!put.ok()) std::cerr << "seeding " << org << ": " << put << "\n";
    }
  }

  void SetUp() override { ASSERT_NE(CurrentStack(), nullptr); }

  static std::unique_ptr<Clients> WriteAs(const Caller& caller) {
    return std::make_unique<Clients>(TlsChannel(TheStack(), TheStack().write_addr, caller));
  }
  static std::unique_ptr<Clients> DecryptAs(const Caller& caller) {
    return std::make_unique<Clients>(TlsChannel(TheStack(), TheStack().decrypt_addr, caller));
  }
};

TEST_F(AccessControlTest, EachRoleIsRefusedOutsideItsRights) {
  const Stack& stack = TheStack();
  struct Refusal {
    std::string who;
    Caller caller;
    std::string rpc;
  };
  // Calls that the role may not make, by certificate and by token.
  const std::vector<Refusal> refusals = {
      {"backend cert", Caller::Cert("backend"), "DecryptCredential"},
      {"backend token", Caller::Token(stack.Token("backend")), "DecryptCredential"},
      {"backend cert", Caller::Cert("backend"), "CreateOrg"},
      {"backend cert", Caller::Cert("backend"), "ListAuditEvents"},
      {"worker cert", Caller::Cert("worker"), "PutCredential"},
      {"worker token", Caller::Token(stack.Token("worker")), "PutCredential"},
      {"worker cert", Caller::Cert("worker"), "DescribeCredential"},
      {"worker cert", Caller::Cert("worker"), "DescribeOrg"},
      {"auditor cert", Caller::Cert("auditor"), "CreateOrg"},
      {"auditor cert", Caller::Cert("auditor"), "RotateOrgKey"},
      {"auditor cert", Caller::Cert("auditor"), "DestroyOrg"},
      {"auditor cert", Caller::Cert("auditor"), "DecryptCredential"},
      {"admin cert", Caller::Cert("admin"), "PutCredential"},
      {"admin cert", Caller::Cert("admin"), "DecryptCredential"},
      {"admin token", Caller::Token(stack.Token("admin")), "DecryptCredential"},
  };
  const std::vector<Probe> probes = EveryRpc();
  for (const Refusal& refusal : refusals) {
    const auto probe = std::find_if(probes.begin(), probes.end(),
                                    [&](const Probe& p) { return p.rpc == refusal.rpc; });
    ASSERT_NE(probe, probes.end());
    auto write = WriteAs(refusal.caller);
    auto decrypt = DecryptAs(refusal.caller);
    const Outcome outcome = probe->call(*write, *decrypt, "shared", "exists");
    EXPECT_EQ(outcome.code, grpc::StatusCode::PERMISSION_DENIED)
        << refusal.who << " " << refusal.rpc << ": " << outcome;
  }

  // What the same roles may do (so the refusals above are about roles, not broken callers).
  auto auditor = DecryptAs(Caller::Cert("auditor"));
  v1::DescribeOrgRequest describe;
  describe.set_org_id("shared");
  v1::DescribeOrgResponse described;
  EXPECT_TRUE(
      Call(*auditor->admin, &v1::AdminService::Stub::DescribeOrg, describe, &described).ok());
  EXPECT_THAT(AuditEvents(*auditor, "shared"), Not(IsEmpty()));
  auto worker = DecryptAs(Caller::Token(stack.Token("worker")));
  std::string secret;
  EXPECT_TRUE(Decrypt(*worker, "shared", "exists", &secret).ok());
  EXPECT_EQ(secret, "in shared");
  auto admin = DecryptAs(Caller::Token(stack.Token("admin")));
  EXPECT_TRUE(Call(*admin->admin, &v1::AdminService::Stub::DescribeOrg, describe, &described).ok());
}

TEST_F(AccessControlTest, OutsiderIsRefusedEverywhere) {
  auto write = WriteAs(Caller::Cert("outsider"));
  auto decrypt = DecryptAs(Caller::Cert("outsider"));
  for (const Probe& probe : EveryRpc()) {
    const Outcome outcome = probe.call(*write, *decrypt, "shared", "exists");
    EXPECT_EQ(outcome.code, grpc::StatusCode::PERMISSION_DENIED) << probe.rpc << ": " << outcome;
    EXPECT_THAT(outcome.message, HasSubstr("spiffe://credvault.test/outsider")) << probe.rpc;
  }
  // Nothing was touched: the credential is there, unchanged, the org is active.
  auto backend = WriteAs(Caller::Cert("backend"));
  v1::CredentialMetadata metadata;
  ASSERT_TRUE(Describe(*backend, "shared", "exists", &metadata).ok());
  EXPECT_EQ(metadata.version(), 1u);
  auto worker = DecryptAs(Caller::Cert("worker"));
  EXPECT_TRUE(Decrypt(*worker, "shared", "exists").ok());
  // A bearer token does not lift a certificate's identity: the certificate decides.
  auto outsider_with_token = WriteAs(Caller{"outsider", TheStack().Token("backend")});
  const Outcome mixed = Describe(*outsider_with_token, "shared", "exists");
  EXPECT_EQ(mixed.code, grpc::StatusCode::PERMISSION_DENIED) << mixed;
}

TEST_F(AccessControlTest, ListenersRefuseTlsOlderThan1_2) {
  const Stack& stack = TheStack();
  // The client offers TLS 1.1 (security level 0 lets OpenSSL 3 do so); the refusal must come
  // from the server, not from the client's own configuration.
  const auto handshake = [&](const std::string& address, const std::string& version) {
    return RunShell("openssl s_client -connect " + ShellQuote(address) + " -" + version +
                    " -cipher 'DEFAULT:@SECLEVEL=0' -alpn h2 -CAfile " +
                    ShellQuote(stack.pki + "/ca.pem") + " </dev/null 2>&1");
  };
  for (const std::string& address : {stack.write_addr, stack.decrypt_addr}) {
    const CommandResult old_tls = handshake(address, "tls1_1");
    EXPECT_NE(old_tls.exit_code, 0) << address << ":\n" << old_tls.output;
    EXPECT_THAT(old_tls.output, Not(HasSubstr("no protocols available")))
        << "the client did not offer TLS 1.1:\n"
        << old_tls.output;
    EXPECT_THAT(old_tls.output, HasSubstr("Cipher is (NONE)")) << address << ":\n"
                                                               << old_tls.output;
    const CommandResult tls12 = handshake(address, "tls1_2");
    EXPECT_EQ(tls12.exit_code, 0) << address << ":\n" << tls12.output;
    EXPECT_THAT(tls12.output, HasSubstr("Protocol  : TLSv1.2")) << address << ":\n" << tls12.output;
  }
}

TEST_F(AccessControlTest, CallersWithoutValidCredentialsAreTurnedAway) {
  const Stack& stack = TheStack();
  for (const bool write_listener : {true, false}) {
    const std::string address = write_listener ? stack.write_addr : stack.decrypt_addr;
    SCOPED_TRACE(write_listener ? "write listener" : "decrypt listener");
    // An RPC that the listener serves.
    const auto call = [&](Clients& clients) {
      return write_listener ? Describe(clients, "shared", "exists")
                            : Decrypt(clients, "shared", "exists");
    };
    // A certificate from a CA the server does not trust: the handshake fails.
    Clients untrusted(TlsChannel(stack, address, Caller::Cert("untrusted")));
    Outcome outcome = call(untrusted);
    EXPECT_EQ(outcome.code, grpc::StatusCode::UNAVAILABLE) << outcome;

    // TLS without a client certificate or token.
    Clients anonymous(TlsChannel(stack, address, Caller::Anonymous()));
    outcome = call(anonymous);
    EXPECT_EQ(outcome.code, grpc::StatusCode::UNAUTHENTICATED) << outcome;

    // A well-formed token that the policy does not know.
    Clients stranger(TlsChannel(stack, address, Caller::Token(RandomHex(32))));
    outcome = call(stranger);
    EXPECT_EQ(outcome.code, grpc::StatusCode::UNAUTHENTICATED) << outcome;
    EXPECT_THAT(outcome.message, HasSubstr("unknown bearer token"));

    // Two tokens, or another authorization scheme.
    for (const std::vector<std::string>& headers :
         {std::vector<std::string>{"Basic " + stack.Token("backend")},
          std::vector<std::string>{"Bearer " + stack.Token("backend"),
                                   "Bearer " + stack.Token("worker")}}) {
      std::unique_ptr<grpc::ClientContext> context = Context();
      for (const std::string& header : headers) context->AddMetadata("authorization", header);
      grpc::Status status;
      if (write_listener) {
        v1::DescribeCredentialRequest request;
        request.set_org_id("shared");
        request.set_name("exists");
        v1::DescribeCredentialResponse response;
        status = anonymous.credentials->DescribeCredential(context.get(), request, &response);
      } else {
        v1::DecryptCredentialRequest request;
        request.set_org_id("shared");
        request.set_name("exists");
        request.set_purpose("probe");
        v1::DecryptCredentialResponse response;
        status = anonymous.access->DecryptCredential(context.get(), request, &response);
      }
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << headers.front().substr(0, 6) << " x" << headers.size() << ": "
          << status.error_message();
    }

    // Plaintext to a TLS listener.
    Clients plaintext(InsecureChannel(address));
    outcome = call(plaintext);
    EXPECT_EQ(outcome.code, grpc::StatusCode::UNAVAILABLE) << outcome;
  }
}

// dnsclient may write and decrypt in org-a only; cnclient may write in org-b only. Outside
// their org they get PERMISSION_DENIED with the same message whether the credential (or the
// org) exists or not.
TEST_F(AccessControlTest, ScopedPrincipalsCannotProbeOtherOrgs) {
  struct Scoped {
    std::string cert;
    std::string principal;
    std::string own_org;
    std::string other_org;
  };
  for (const Scoped& scoped :
       {Scoped{"dnsclient", "dns:dns-client.credvault.test", "org-a", "org-b"},
        Scoped{"cnclient", "cn:cn-client", "org-b", "org-a"}}) {
    SCOPED_TRACE(scoped.cert);
    auto write = WriteAs(Caller::Cert(scoped.cert));
    auto decrypt = DecryptAs(Caller::Cert(scoped.cert));
    // In its own org it works, under the principal its certificate names.
    v1::PutCredentialResponse put;
    ASSERT_TRUE(Put(*write, PutRequest(scoped.own_org, "mine/" + scoped.cert, "x"), &put).ok());
    EXPECT_EQ(put.credential().created_by(), scoped.principal);
    EXPECT_TRUE(Describe(*write, scoped.own_org, "exists").ok());

    for (const Probe& probe : EveryRpc()) {
      if (probe.rpc == "CreateOrg" || probe.rpc == "RotateOrgKey" || probe.rpc == "DestroyOrg" ||
          probe.rpc == "DescribeOrg" || probe.rpc == "ListAuditEvents" ||
          probe.rpc == "VerifyAuditLog" || probe.rpc == "ExportAuditLog") {
        continue;  // roles these principals do not have anywhere; covered above
      }
      const Outcome existing = probe.call(*write, *decrypt, scoped.other_org, "exists");
      const Outcome missing = probe.call(*write, *decrypt, scoped.other_org, "missing");
      const Outcome no_org = probe.call(*write, *decrypt, "org-never", "exists");
      EXPECT_EQ(existing.code, grpc::StatusCode::PERMISSION_DENIED) << probe.rpc << existing;
      EXPECT_EQ(missing.code, existing.code) << probe.rpc;
      EXPECT_EQ(missing.message, existing.message) << probe.rpc;
      EXPECT_EQ(missing.reason, existing.reason) << probe.rpc;
      EXPECT_EQ(no_org.code, existing.code) << probe.rpc;
      std::string no_org_message = no_org.message;
      const std::size_t at = no_org_message.find("org-never");
      ASSERT_NE(at, std::string::npos) << no_org_message;
      no_org_message.replace(at, 9, scoped.other_org);
      EXPECT_EQ(no_org_message, existing.message) << probe.rpc;
      EXPECT_THAT(existing.message, HasSubstr(scoped.principal));
    }
  }
  // cnclient has no decryptor role even in its own org.
  auto cn = DecryptAs(Caller::Cert("cnclient"));
  EXPECT_EQ(Decrypt(*cn, "org-b", "exists").code, grpc::StatusCode::PERMISSION_DENIED);
  auto dns = DecryptAs(Caller::Cert("dnsclient"));
  std::string secret;
  ASSERT_TRUE(Decrypt(*dns, "org-a", "exists", &secret).ok());
  EXPECT_EQ(secret, "in org-a");

  // The other org's data is untouched (the probes included an erase). The probes of callers
  // with no grant for an org stay out of its audit log (they go to the rate-limited
  // security log), while cnclient's refused decrypt in its own org is in that org's log.
  auto backend = WriteAs(Caller::Cert("backend"));
  EXPECT_TRUE(Describe(*backend, "org-b", "exists").ok());
  EXPECT_EQ(Describe(*backend, "org-b", "missing").code, grpc::StatusCode::NOT_FOUND);
  auto admin = DecryptAs(Caller::Cert("admin"));
  int stranger_denials = 0;  // dnsclient in org-b, cnclient in org-a
  int member_denials = 0;    // cnclient's decrypt in org-b
  for (const std::string org : {"org-a", "org-b"}) {
    for (const v1::AuditEvent& event : AuditEvents(*admin, org)) {
      if (event.action() != "access.denied") continue;
      if ((org == "org-b" && event.principal() == "dns:dns-client.credvault.test") ||
          (org == "org-a" && event.principal() == "cn:cn-client")) {
        ++stranger_denials;
      }
      if (org == "org-b" && event.principal() == "cn:cn-client" &&
          event.target() == "DecryptCredential") {
        ++member_denials;
      }
    }
  }
  EXPECT_EQ(stranger_denials, 0);
  EXPECT_GE(member_denials, 1);
}

// ---------------------------------------------------------------------------------------
// Server reflection.

class ReflectionClient {
 public:
  explicit ReflectionClient(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(reflection::ServerReflection::NewStub(channel)), context_(Context()) {
    stream_ = stub_->ServerReflectionInfo(context_.get());
  }
  ~ReflectionClient() {
    stream_->WritesDone();
    stream_->Finish().IgnoreError();
  }

  std::optional<reflection::ServerReflectionResponse> Ask(
      const reflection::ServerReflectionRequest& request) {
    reflection::ServerReflectionResponse response;
    if (!stream_->Write(request) || !stream_->Read(&response)) return std::nullopt;
    return response;
  }

  std::vector<std::string> Services() {
    reflection::ServerReflectionRequest request;
    request.set_list_services("");
    std::vector<std::string> names;
    const auto response = Ask(request);
    if (!response) return names;
    for (const auto& service : response->list_services_response().service()) {
      names.push_back(service.name());
    }
    return names;
  }

  // Adds the files of the answer to `files`; false on an error answer.
  bool Fetch(const reflection::ServerReflectionRequest& request,
             std::map<std::string, google::protobuf::FileDescriptorProto>& files) {
    const auto response = Ask(request);
    if (!response || response->has_error_response()) return false;
    for (const std::string& bytes : response->file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto file;
      if (!file.ParseFromString(bytes)) return false;
      files[file.name()] = file;
    }
    return true;
  }

 private:
  std::unique_ptr<reflection::ServerReflection::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<reflection::ServerReflectionRequest,
                                           reflection::ServerReflectionResponse>>
      stream_;
};

// What the reflection service of one listener describes.
struct ListenerApi {
  std::vector<std::string> services;
  std::vector<std::string> unresolved;  // listed, but no descriptor served
  google::protobuf::DescriptorPool pool;
};

void Build(const std::string& name,
           const std::map<std::string, google::protobuf::FileDescriptorProto>& files,
           google::protobuf::DescriptorPool& pool) {
  if (pool.FindFileByName(name) != nullptr) return;
  const auto it = files.find(name);
  if (it == files.end()) return;
  for (const std::string& dependency : it->second.dependency()) Build(dependency, files, pool);
  pool.BuildFile(it->second);
}

std::unique_ptr<ListenerApi> ReadApi(const std::shared_ptr<grpc::Channel>& channel) {
  auto api = std::make_unique<ListenerApi>();
  ReflectionClient client(channel);
  api->services = client.Services();
  std::map<std::string, google::protobuf::FileDescriptorProto> files;
  for (const std::string& service : api->services) {
    reflection::ServerReflectionRequest request;
    request.set_file_containing_symbol(service);
    if (!client.Fetch(request, files)) api->unresolved.push_back(service);
  }
  // Imports the server did not send along.
  for (int round = 0; round < 10; ++round) {
    std::set<std::string> missing;
    for (const auto& [name, file] : files) {
      for (const std::string& dependency : file.dependency()) {
        if (files.count(dependency) == 0) missing.insert(dependency);
      }
    }
    if (missing.empty()) break;
    for (const std::string& name : missing) {
      reflection::ServerReflectionRequest request;
      request.set_file_by_filename(name);
      client.Fetch(request, files);
    }
  }
  for (const auto& [name, file] : files) Build(name, files, api->pool);
  return api;
}

// Fields reachable from `message` that could carry secret material: any bytes field not in
// the allowlist, and any field whose name suggests a secret.
void SecretBearingFields(const google::protobuf::Descriptor* message,
                         const std::set<std::string>& bytes_allowlist,
                         std::set<const google::protobuf::Descriptor*>& seen,
                         std::vector<std::string>& found) {
  if (!seen.insert(message).second) return;
  for (int i = 0; i < message->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = message->field(i);
    std::string lower = field->name();
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const char* word : {"secret", "plaintext", "envelope", "ciphertext", "dek", "private"}) {
      if (lower.find(word) != std::string::npos) found.push_back(field->full_name());
    }
    if (field->type() == google::protobuf::FieldDescriptor::TYPE_BYTES &&
        bytes_allowlist.count(field->full_name()) == 0) {
      found.push_back(field->full_name());
    }
    if (field->message_type() != nullptr) {
      SecretBearingFields(field->message_type(), bytes_allowlist, seen, found);
    }
  }
}

// Secret-bearing fields of every response of every method of every service of a listener.
std::vector<std::string> SecretBearingResponses(const ListenerApi& api,
                                                const std::set<std::string>& bytes_allowlist,
                                                int* methods_checked) {
  std::vector<std::string> found;
  std::set<const google::protobuf::Descriptor*> seen;
  for (const std::string& name : api.services) {
    const google::protobuf::ServiceDescriptor* service = api.pool.FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      SecretBearingFields(service->method(i)->output_type(), bytes_allowlist, seen, found);
      ++*methods_checked;
    }
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return found;
}

// Bytes fields that are not secret: the keyed fingerprint of a credential, and the file
// descriptors that the reflection service itself returns.
const std::set<std::string> kBytesAllowlist = {
    "credvault.v1.CredentialFingerprint.mac",
    "grpc.reflection.v1alpha.FileDescriptorResponse.file_descriptor_proto",
};

TEST_F(AccessControlTest, WriteListenerExposesNoSecretMaterial) {
  const Stack& stack = TheStack();
  const auto api = ReadApi(TlsChannel(stack, stack.write_addr, Caller::Cert("backend")));
  EXPECT_THAT(api->services, Contains("credvault.v1.CredentialService"));
  EXPECT_THAT(api->services, Not(Contains("credvault.v1.CredentialAccessService")));
  EXPECT_THAT(api->services, Not(Contains("credvault.v1.AdminService")));
  for (const std::string& service : api->unresolved) {
    // The built-in health service has no descriptor to serve; everything else must.
    EXPECT_EQ(service, "grpc.health.v1.Health") << "no descriptor for " << service;
  }
  ASSERT_NE(api->pool.FindServiceByName("credvault.v1.CredentialService"), nullptr);
  int methods = 0;
  EXPECT_THAT(SecretBearingResponses(*api, kBytesAllowlist, &methods), IsEmpty());
  EXPECT_GE(methods, 5) << "the five CredentialService methods at least";

  // The same check on the decrypt listener finds the secret (so it can fail).
  const auto decrypt_api = ReadApi(TlsChannel(stack, stack.decrypt_addr, Caller::Cert("worker")));
  EXPECT_THAT(decrypt_api->services, Contains("credvault.v1.CredentialAccessService"));
  int decrypt_methods = 0;
  EXPECT_THAT(SecretBearingResponses(*decrypt_api, kBytesAllowlist, &decrypt_methods),
              Contains("credvault.v1.DecryptCredentialResponse.secret"));

  // Nothing answers Decrypt or admin calls on the write listener, whoever asks.
  for (const std::string who : {"worker", "admin", "backend"}) {
    Clients on_write(TlsChannel(stack, stack.write_addr, Caller::Cert(who)));
    const Outcome decrypt = Decrypt(on_write, "shared", "exists");
    EXPECT_EQ(decrypt.code, grpc::StatusCode::UNIMPLEMENTED) << who << ": " << decrypt;
    v1::DescribeOrgRequest describe;
    describe.set_org_id("shared");
    v1::DescribeOrgResponse response;
    EXPECT_EQ(Call(*on_write.admin, &v1::AdminService::Stub::DescribeOrg, describe, &response).code,
              grpc::StatusCode::UNIMPLEMENTED)
        << who;
  }
}

// ---------------------------------------------------------------------------------------
// A write-only process.

std::vector<std::string> WriterEnvironment(const Stack& stack) {
  return {"CREDVAULT_DB_WRITER_PASSWORD=" + stack.secrets.at("CREDVAULT_DB_WRITER_PASSWORD"),
          "PATH=/usr/bin:/bin"};
}

TEST_F(AccessControlTest, WriteOnlyProcessCannotDecrypt) {
  const Stack& stack = TheStack();
  // The stack's configuration, cut down to the write tier.
  YAML::Node config = YAML::LoadFile(stack.config);
  const YAML::Node seal_key = YAML::Clone(config["keys"]["seal_key"]);
  ASSERT_TRUE(seal_key.IsMap());
  config["tiers"] = YAML::Load("[write]");
  config["listeners"].remove("decrypt");
  config["listeners"]["write"]["address"] = "127.0.0.1:0";
  config["metrics"]["address"] = "127.0.0.1:0";
  config["database"].remove("decryptor");
  config["database"].remove("admin");
  config["keys"].remove("seal_key");
  config["keys"].remove("audit_signing_key_file");
  YAML::Emitter write_only;
  write_only << config;
  const std::string path = stack.dir + "/write-only.yaml";
  WriteFileOrDie(path, write_only.c_str());

  const std::string ready = stack.dir + "/write-only.ready.json";
  auto process = ChildProcess::Start(
      {CREDVAULTD_PATH, "serve", "--config=" + path, "--ready-file=" + ready},
      WriterEnvironment(stack), stack.dir + "/write-only.out", stack.dir + "/write-only.log");
  ASSERT_NE(process, nullptr);
  ASSERT_TRUE(WaitFor([&] { return !ReadFileOrEmpty(ready).empty() || !process->running(); },
                      std::chrono::seconds(30)));
  ASSERT_TRUE(process->running()) << ReadFileOrEmpty(stack.dir + "/write-only.log");
  const std::string ready_json = ReadFileOrEmpty(ready);
  EXPECT_THAT(ready_json, Not(HasSubstr("decrypt"))) << ready_json;
  const int port = JsonInteger(ready_json, "write");
  ASSERT_GT(port, 0) << ready_json;
  const std::string address = "127.0.0.1:" + std::to_string(port);

  // It cannot make an org: only the key authority (a decrypt tier) can, and this process
  // has none to ask.
  Clients writer(TlsChannel(stack, address, Caller::Cert("backend")));
  const Outcome unprovisioned =
      Put(writer, PutRequest("write-only-new", "first", "s3cr3t"), nullptr);
  EXPECT_EQ(unprovisioned.code, grpc::StatusCode::NOT_FOUND) << unprovisioned;
  EXPECT_EQ(unprovisioned.reason, "ERROR_REASON_ORG_NOT_FOUND");
  Clients full_stack(TlsChannel(stack, stack.write_addr, Caller::Cert("backend")));
  ASSERT_TRUE(Put(full_stack, PutRequest("write-only", "provisioned", "x"), nullptr).ok());

  // It serves the write API, on the same database.
  v1::PutCredentialResponse put;
  const Outcome written = Put(writer, PutRequest("write-only", "from-write-tier", "s3cr3t"), &put);
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(put.credential().version(), 1u);
  EXPECT_THAT(ListNames(writer, "write-only"), Contains("from-write-tier"));
  Clients worker(TlsChannel(stack, stack.decrypt_addr, Caller::Cert("worker")));
  std::string secret;
  ASSERT_TRUE(Decrypt(worker, "write-only", "from-write-tier", &secret).ok());
  EXPECT_EQ(secret, "s3cr3t") << "the full stack decrypts what the write tier sealed";

  // And nothing else.
  const auto api = ReadApi(TlsChannel(stack, address, Caller::Cert("backend")));
  EXPECT_THAT(api->services, Contains("credvault.v1.CredentialService"));
  EXPECT_THAT(api->services, Not(Contains("credvault.v1.CredentialAccessService")));
  EXPECT_THAT(api->services, Not(Contains("credvault.v1.AdminService")));
  for (const std::string& service : api->unresolved) {
    EXPECT_EQ(service, "grpc.health.v1.Health") << "no descriptor for " << service;
  }
  ASSERT_NE(api->pool.FindServiceByName("credvault.v1.CredentialService"), nullptr);
  int methods = 0;
  EXPECT_THAT(SecretBearingResponses(*api, kBytesAllowlist, &methods), IsEmpty());
  EXPECT_GE(methods, 5) << "the five CredentialService methods at least";
  Clients as_worker(TlsChannel(stack, address, Caller::Cert("worker")));
  EXPECT_EQ(Decrypt(as_worker, "write-only", "from-write-tier").code,
            grpc::StatusCode::UNIMPLEMENTED);
  Clients as_admin(TlsChannel(stack, address, Caller::Cert("admin")));
  v1::DescribeOrgRequest describe;
  describe.set_org_id("write-only");
  v1::DescribeOrgResponse described;
  EXPECT_EQ(Call(*as_admin.admin, &v1::AdminService::Stub::DescribeOrg, describe, &described).code,
            grpc::StatusCode::UNIMPLEMENTED);

  process->Signal(SIGTERM);
  EXPECT_EQ(process->Wait(std::chrono::seconds(15)), std::optional<int>(0));

  // With the seal key, the same configuration is refused at start.
  config["keys"]["seal_key"] = seal_key;
  YAML::Emitter sealed;
  sealed << config;
  const std::string sealed_path = stack.dir + "/write-only-sealed.yaml";
  WriteFileOrDie(sealed_path, sealed.c_str());
  auto refused = ChildProcess::Start({CREDVAULTD_PATH, "serve", "--config=" + sealed_path,
                                      "--ready-file=" + stack.dir + "/sealed.ready.json"},
                                     WriterEnvironment(stack), stack.dir + "/sealed.out",
                                     stack.dir + "/sealed.log");
  ASSERT_NE(refused, nullptr);
  const std::optional<int> status = refused->Wait(std::chrono::seconds(15));
  ASSERT_TRUE(status.has_value()) << "a write-only process with the seal key kept running";
  EXPECT_NE(*status, 0);
  EXPECT_THAT(ReadFileOrEmpty(stack.dir + "/sealed.log"), HasSubstr("keys.seal_key"));
  EXPECT_TRUE(ReadFileOrEmpty(stack.dir + "/sealed.ready.json").empty());
}

}  // namespace
}  // namespace credvault::e2e
