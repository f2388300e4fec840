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
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/org_admin.h"

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

// A probe of an AdminService method whose request names only the org.
template <typename Request, typename Response>
Probe AdminOrgProbe(const std::string& rpc,
                    grpc::Status (v1::AdminService::Stub::*method)(grpc::ClientContext*,
                                                                   const Request&, Response*)) {
  return {rpc, [method](Clients&, Clients& d, const std::string& org, const std::string&) {
            Request request;
            request.set_org_id(org);
            Response response;
            return Call(*d.admin, method, request, &response);
          }};
}

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
  probes.push_back(AdminOrgProbe("CreateOrg", &v1::AdminService::Stub::CreateOrg));
  probes.push_back(AdminOrgProbe("DescribeOrg", &v1::AdminService::Stub::DescribeOrg));
  probes.push_back(AdminOrgProbe("RotateOrgKey", &v1::AdminService::Stub::RotateOrgKey));
  probes.push_back(
      {"DestroyOrg", [](Clients&, Clients& d, const std::string& org, const std::string&) {
         v1::DestroyOrgRequest request;
         request.set_org_id(org);
         request.set_confirm_org_id(org);
         request.set_reason("probe");
         v1::DestroyOrgResponse response;
         return Call(*d.admin, &v1::AdminService::Stub::DestroyOrg, request, &response);
       }});
  probes.push_back(AdminOrgProbe("ListAuditEvents", &v1::AdminService::Stub::ListAuditEvents));
  probes.push_back(AdminOrgProbe("VerifyAuditLog", &v1::AdminService::Stub::VerifyAuditLog));
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

// The write listener at `address`, as a backend sees it through reflection: it serves
// CredentialService and neither of the decrypt tier's services, every service it lists but
// the built-in health service has a descriptor, and no response of any of its (at least
// five) methods carries secret bytes. `api`: what it serves, for further checks.
void ExpectWriteApiWithoutSecrets(const Stack& stack, const std::string& address,
                                  std::unique_ptr<ListenerApi>* api_out) {
  std::unique_ptr<ListenerApi>& api = *api_out;
  api = ReadApi(TlsChannel(stack, address, Caller::Cert("backend")));
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
}

TEST_F(AccessControlTest, WriteListenerExposesNoSecretMaterial) {
  const Stack& stack = TheStack();
  std::unique_ptr<ListenerApi> api;
  ASSERT_NO_FATAL_FAILURE(ExpectWriteApiWithoutSecrets(stack, stack.write_addr, &api));

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

v1::CompareCredentialRequest CompareRequest(const std::string& org, const std::string& name,
                                            const std::string& candidate) {
  v1::CompareCredentialRequest request;
  request.set_org_id(org);
  request.set_name(name);
  request.set_candidate(candidate);
  return request;
}

Outcome Compare(Clients& clients, const v1::CompareCredentialRequest& request,
                v1::CompareCredentialResponse* response) {
  return Call(*clients.credentials, &v1::CredentialService::Stub::CompareCredential, request,
              response);
}

// The principal of the dev PKI's write-tier certificate (scripts/dev-pki.sh).
constexpr char kWriteTierPrincipal[] = "spiffe://credvault.test/writetier";
constexpr char kBackendPrincipal[] = "spiffe://credvault.test/backend";

// The write tier's identity may ask the key authority, and nothing else. Granted once per
// test binary, before the first test that needs it.
void GrantWriteTierTheKeyAuthority() {
  static const std::string granted =
      AddPolicyPrincipal({std::string("id: \"") + kWriteTierPrincipal + "\"",
                          "roles: [key_authority_client]", "orgs: [\"*\"]"});
  ASSERT_EQ(granted, "");
}

TEST_F(AccessControlTest, WriteOnlyProcessCannotDecrypt) {
  const Stack& stack = TheStack();
  // The stack's configuration, cut down to the write tier, with no key authority to ask.
  WriteOnlyCredvaultd write_only;
  ASSERT_EQ(StartWriteOnlyCredvaultd("write-only", WriteOnlyConfig(std::nullopt), write_only), "");
  EXPECT_THAT(write_only.ready_json, Not(HasSubstr("decrypt"))) << write_only.ready_json;
  const std::string& address = write_only.address;

  // Without key_authority it cannot make an org (only the key authority, a decrypt tier,
  // can) nor answer a comparison.
  Clients writer(TlsChannel(stack, address, Caller::Cert("backend")));
  const Outcome unprovisioned =
      Put(writer, PutRequest("write-only-new", "first", "s3cr3t"), nullptr);
  EXPECT_EQ(unprovisioned.code, grpc::StatusCode::NOT_FOUND) << unprovisioned;
  EXPECT_EQ(unprovisioned.reason, "ERROR_REASON_ORG_NOT_FOUND");
  Clients full_stack(TlsChannel(stack, stack.write_addr, Caller::Cert("backend")));
  ASSERT_TRUE(Put(full_stack, PutRequest("write-only", "provisioned", "x"), nullptr).ok());
  v1::CompareCredentialResponse compared;
  const Outcome no_authority =
      Compare(writer, CompareRequest("write-only", "provisioned", "x"), &compared);
  EXPECT_EQ(no_authority.code, grpc::StatusCode::UNAVAILABLE) << no_authority;

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
  std::unique_ptr<ListenerApi> api;
  ASSERT_NO_FATAL_FAILURE(ExpectWriteApiWithoutSecrets(stack, address, &api));
  EXPECT_THAT(api->services, Not(Contains("credvault.v1.KeyAuthorityService")));
  Clients as_worker(TlsChannel(stack, address, Caller::Cert("worker")));
  EXPECT_EQ(Decrypt(as_worker, "write-only", "from-write-tier").code,
            grpc::StatusCode::UNIMPLEMENTED);
  Clients as_admin(TlsChannel(stack, address, Caller::Cert("admin")));
  EXPECT_EQ(DescribeOrg(as_admin, "write-only").code, grpc::StatusCode::UNIMPLEMENTED);

  write_only.process->Signal(SIGTERM);
  EXPECT_EQ(write_only.process->Wait(std::chrono::seconds(15)), std::optional<int>(0));

  // With the seal key, the same configuration is refused at start.
  YAML::Node config = YAML::Load(WriteOnlyConfig(std::nullopt));
  config["keys"]["seal_key"] = YAML::Clone(YAML::LoadFile(stack.config)["keys"]["seal_key"]);
  ASSERT_TRUE(config["keys"]["seal_key"].IsMap());
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

// Split mode: a write-only process whose identity holds key_authority_client provisions
// orgs and answers comparisons through the decrypt tier, which audits them in the name of
// the original caller; what comes back is only "done" and "match or not".
TEST_F(AccessControlTest, WriteOnlyProcessAsksTheKeyAuthority) {
  const Stack& stack = TheStack();
  GrantWriteTierTheKeyAuthority();
  WriteOnlyCredvaultd write_only;
  ASSERT_EQ(StartWriteOnlyCredvaultd(
                "split-write", WriteOnlyConfig(KeyAuthorityClient{"writetier", ""}), write_only),
            "");
  Clients writer(TlsChannel(stack, write_only.address, Caller::Cert("backend")));
  Clients admin(TlsChannel(stack, stack.decrypt_addr, Caller::Cert("admin")));
  const std::string org = "split-" + RandomHex(4);
  ASSERT_EQ(DescribeOrg(admin, org).code, grpc::StatusCode::NOT_FOUND);

  // A first Put provisions the org through the key authority.
  v1::PutCredentialResponse put;
  const Outcome first = Put(writer, PutRequest(org, "crm/token", "split-s3cr3t"), &put);
  ASSERT_TRUE(first.ok()) << first << "\n" << write_only.Log();
  EXPECT_EQ(put.credential().version(), 1u);
  EXPECT_EQ(put.credential().created_by(), kBackendPrincipal);
  EXPECT_TRUE(DescribeOrg(admin, org).ok());
  std::vector<v1::AuditEvent> events = AuditEvents(admin, org);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[0].action(), "org.provision");
  EXPECT_EQ(events[0].principal(), kBackendPrincipal) << "the original caller, not the write tier";
  EXPECT_EQ(events[0].appended_by(), "credvault_decryptor");
  EXPECT_EQ(events[0].result(), "ok");
  EXPECT_EQ(events[1].action(), "credential.put");
  EXPECT_EQ(events[1].appended_by(), "credvault_writer");
  Clients worker(TlsChannel(stack, stack.decrypt_addr, Caller::Cert("worker")));
  std::string secret;
  ASSERT_TRUE(Decrypt(worker, org, "crm/token", &secret).ok());
  EXPECT_EQ(secret, "split-s3cr3t");

  // Comparisons are answered by the key authority: match and no match.
  v1::CompareCredentialResponse compared;
  const Outcome matched =
      Compare(writer, CompareRequest(org, "crm/token", "split-s3cr3t"), &compared);
  ASSERT_TRUE(matched.ok()) << matched;
  EXPECT_TRUE(compared.match());
  EXPECT_EQ(compared.version(), 1u);
  compared.Clear();
  const Outcome missed =
      Compare(writer, CompareRequest(org, "crm/token", "a-wrong-guess"), &compared);
  ASSERT_TRUE(missed.ok()) << missed;
  EXPECT_FALSE(compared.match());
  EXPECT_EQ(compared.version(), 1u);
  // The key authority's refusals come back with their reason.
  const Outcome missing = Compare(writer, CompareRequest(org, "no/such", "x"), &compared);
  EXPECT_EQ(missing.code, grpc::StatusCode::NOT_FOUND) << missing;
  EXPECT_EQ(missing.reason, "ERROR_REASON_CREDENTIAL_NOT_FOUND");
  events = AuditEvents(admin, org);
  std::vector<std::string> compares;
  for (const v1::AuditEvent& event : events) {
    if (event.action() != "credential.compare") continue;
    EXPECT_EQ(event.principal(), kBackendPrincipal);
    EXPECT_EQ(event.appended_by(), "credvault_decryptor");
    compares.push_back(event.result() + " " + event.details());
  }
  EXPECT_THAT(compares, ::testing::ElementsAre("ok version 1, match", "ok version 1, no match",
                                               "not_found "));

  // The write tier's identity asks the key authority and can do nothing else: not
  // decrypt, not write, not administer.
  Clients as_write_tier(TlsChannel(stack, stack.decrypt_addr, Caller::Cert("writetier")));
  EXPECT_EQ(Decrypt(as_write_tier, org, "crm/token").code, grpc::StatusCode::PERMISSION_DENIED);
  Clients write_tier_on_write(TlsChannel(stack, stack.write_addr, Caller::Cert("writetier")));
  EXPECT_EQ(Put(write_tier_on_write, PutRequest(org, "other", "x")).code,
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(DescribeOrg(as_write_tier, org).code, grpc::StatusCode::PERMISSION_DENIED);

  // Called directly, the key authority validates every field and names it.
  v1::KeyAuthorityCompareRequest direct;
  direct.set_org_id(org);
  direct.set_name("crm/token");
  direct.set_candidate("split-s3cr3t");
  direct.set_request_id("direct-call-1");
  v1::CompareCredentialResponse direct_response;
  const Outcome no_principal =
      Call(*as_write_tier.key_authority, &v1::KeyAuthorityService::Stub::CompareCredential, direct,
           &direct_response);
  EXPECT_EQ(no_principal.code, grpc::StatusCode::INVALID_ARGUMENT) << no_principal;
  EXPECT_THAT(no_principal.message, HasSubstr("principal"));
  v1::ProvisionOrgRequest provision;
  provision.set_org_id(org + "-direct");
  provision.set_principal(kBackendPrincipal);
  provision.set_request_id("direct-call-2");
  v1::ProvisionOrgResponse provisioned;
  const Outcome no_pins =
      Call(*as_write_tier.key_authority, &v1::KeyAuthorityService::Stub::ProvisionOrg, provision,
           &provisioned);
  EXPECT_EQ(no_pins.code, grpc::StatusCode::INVALID_ARGUMENT) << no_pins;
  EXPECT_THAT(no_pins.message, HasSubstr("pinned_root_key_versions"));
  // A writer (or a worker) is not a key authority client.
  for (const char* caller : {"backend", "worker"}) {
    Clients other(TlsChannel(stack, stack.decrypt_addr, Caller::Cert(caller)));
    direct.set_principal(kBackendPrincipal);
    EXPECT_EQ(Call(*other.key_authority, &v1::KeyAuthorityService::Stub::CompareCredential, direct,
                   &direct_response)
                  .code,
              grpc::StatusCode::PERMISSION_DENIED)
        << caller;
  }

  write_only.process->Signal(SIGTERM);
  EXPECT_EQ(write_only.process->Wait(std::chrono::seconds(15)), std::optional<int>(0));
  EXPECT_THAT(write_only.Log(), Not(HasSubstr("split-s3cr3t")));
  EXPECT_THAT(write_only.Log(), Not(HasSubstr("a-wrong-guess")));
}

// A write-only process whose identity the policy does not grant key_authority_client is
// refused by the key authority: its first Put fails cleanly (nothing made) and says why.
TEST_F(AccessControlTest, WriteOnlyProcessWithoutTheGrantIsRefusedByTheKeyAuthority) {
  const Stack& stack = TheStack();
  WriteOnlyCredvaultd write_only;
  // The backend certificate holds writer for every org, but not key_authority_client.
  ASSERT_EQ(StartWriteOnlyCredvaultd(
                "split-ungranted", WriteOnlyConfig(KeyAuthorityClient{"backend", ""}), write_only),
            "");
  Clients writer(TlsChannel(stack, write_only.address, Caller::Cert("backend")));
  Clients admin(TlsChannel(stack, stack.decrypt_addr, Caller::Cert("admin")));
  const std::string org = "ungranted-" + RandomHex(4);
  const Outcome refused = Put(writer, PutRequest(org, "first", "s3cr3t"), nullptr);
  EXPECT_EQ(refused.code, grpc::StatusCode::UNAVAILABLE) << refused;
  EXPECT_THAT(refused.message, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(refused.message, HasSubstr("key_authority_client"));
  EXPECT_EQ(DescribeOrg(admin, org).code, grpc::StatusCode::NOT_FOUND) << "nothing was made";

  // Comparisons are refused the same way, on an org that exists.
  Clients full_stack(TlsChannel(stack, stack.write_addr, Caller::Cert("backend")));
  ASSERT_TRUE(Put(full_stack, PutRequest(org, "existing", "s3cr3t"), nullptr).ok());
  v1::CompareCredentialResponse compared;
  const Outcome compare = Compare(writer, CompareRequest(org, "existing", "s3cr3t"), &compared);
  EXPECT_EQ(compare.code, grpc::StatusCode::UNAVAILABLE) << compare;
  EXPECT_THAT(compare.message, HasSubstr("PERMISSION_DENIED"));
  EXPECT_FALSE(compared.match());
  // The key authority audited the refusal in the org's chain, as the refused identity,
  // and no comparison was made.
  int denied = 0;
  for (const v1::AuditEvent& event : AuditEvents(admin, org)) {
    EXPECT_NE(event.action(), "credential.compare");
    if (event.action() == "access.denied" && event.principal() == kBackendPrincipal &&
        event.target() == "KeyAuthority.CompareCredential" &&
        event.result() == "permission_denied") {
      ++denied;
    }
  }
  EXPECT_GE(denied, 1);

  write_only.process->Signal(SIGTERM);
  EXPECT_EQ(write_only.process->Wait(std::chrono::seconds(15)), std::optional<int>(0));
}

}  // namespace
}  // namespace credvault::e2e
