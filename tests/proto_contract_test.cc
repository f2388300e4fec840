// Checks the credvault v1 API contract through the protobuf descriptors:
//   * the three services expose exactly the methods of the contract, no more;
//   * no response of CredentialService (and of AdminService) can carry secret material,
//     however deeply nested, so that "write-only" cannot be broken by adding a field;
//   * the request fields the design relies on exist with the right types and presence;
//   * every element of the contract is documented, and the descriptor set shipped to
//     non-C++ clients matches the generated code.

#include <algorithm>
#include <cctype>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "credvault/v1/admin_service.pb.h"
#include "credvault/v1/audit.pb.h"
#include "credvault/v1/common.pb.h"
#include "credvault/v1/credential_access_service.pb.h"
#include "credvault/v1/credential_service.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

#ifndef CREDVAULT_PROTO_DESCRIPTOR_SET
#error "CREDVAULT_PROTO_DESCRIPTOR_SET must name the descriptor set built by proto/"
#endif

namespace credvault::v1 {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptor;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::FileDescriptorSet;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;
using ::google::protobuf::SourceLocation;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

constexpr std::string_view kPackage = "credvault.v1";

// The generated descriptors are registered by static initialisers of the generated
// objects, which a static library only links when something references them. Referencing
// one message of each file keeps every file in the generated pool.
const DescriptorPool& GeneratedPool() {
  static const bool linked = [] {
    return AuditEvent::descriptor() != nullptr && CredentialMetadata::descriptor() != nullptr &&
           PutCredentialRequest::descriptor() != nullptr &&
           DecryptCredentialRequest::descriptor() != nullptr &&
           CreateOrgRequest::descriptor() != nullptr;
  }();
  EXPECT_TRUE(linked);
  return *DescriptorPool::generated_pool();
}

// ---------------------------------------------------------------------------------------
// (1) Services and methods.

struct MethodSpec {
  std::string name;
  std::string input;
  std::string output;
  bool server_streaming = false;

  friend bool operator==(const MethodSpec& a, const MethodSpec& b) {
    return a.name == b.name && a.input == b.input && a.output == b.output &&
           a.server_streaming == b.server_streaming;
  }
  friend std::ostream& operator<<(std::ostream& os, const MethodSpec& m) {
    return os << m.name << "(" << m.input << ") returns (" << (m.server_streaming ? "stream " : "")
              << m.output << ")";
  }
};

// A unary method Foo(FooRequest) returns (FooResponse), the naming every method follows.
MethodSpec Unary(std::string name) {
  const std::string prefix = std::string(kPackage) + "." + name;
  return {name, prefix + "Request", prefix + "Response", false};
}

MethodSpec ServerStreaming(std::string name) {
  MethodSpec spec = Unary(std::move(name));
  spec.server_streaming = true;
  return spec;
}

std::vector<MethodSpec> MethodsOf(const ServiceDescriptor& service) {
  std::vector<MethodSpec> methods;
  for (int i = 0; i < service.method_count(); ++i) {
    const MethodDescriptor& method = *service.method(i);
    // No method of the contract takes a client stream.
    EXPECT_FALSE(method.client_streaming()) << method.full_name();
    methods.push_back({method.name(), method.input_type()->full_name(),
                       method.output_type()->full_name(), method.server_streaming()});
  }
  return methods;
}

const ServiceDescriptor* FindService(std::string_view name) {
  return GeneratedPool().FindServiceByName(std::string(kPackage) + "." + std::string(name));
}

TEST(ProtoContractTest, CredentialServiceHasExactlyTheContractMethods) {
  const ServiceDescriptor* service = FindService("CredentialService");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->file()->name(), "credvault/v1/credential_service.proto");
  EXPECT_THAT(MethodsOf(*service),
              ElementsAreArray({Unary("PutCredential"), Unary("DeleteCredential"),
                                Unary("DescribeCredential"), Unary("ListCredentials"),
                                Unary("CompareCredential")}));
}

TEST(ProtoContractTest, CredentialAccessServiceHasExactlyTheContractMethods) {
  const ServiceDescriptor* service = FindService("CredentialAccessService");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->file()->name(), "credvault/v1/credential_access_service.proto");
  EXPECT_THAT(MethodsOf(*service), ElementsAreArray({Unary("DecryptCredential")}));
}

TEST(ProtoContractTest, AdminServiceHasExactlyTheContractMethods) {
  const ServiceDescriptor* service = FindService("AdminService");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->file()->name(), "credvault/v1/admin_service.proto");
  EXPECT_THAT(
      MethodsOf(*service),
      ElementsAreArray({Unary("CreateOrg"), Unary("DescribeOrg"), Unary("ListOrgs"),
                        Unary("RotateOrgKey"), Unary("DestroyOrg"), Unary("DestroyOrgKeyVersion"),
                        Unary("RotateRootKey"), Unary("GetResealJob"), Unary("ListResealJobs"),
                        Unary("ListAuditEvents"), Unary("VerifyAuditLog"),
                        ServerStreaming("ExportAuditLog")}));
}

// The contract files, as compiled into the binary.
std::vector<const FileDescriptor*> ContractFiles(const DescriptorPool& pool) {
  std::vector<const FileDescriptor*> files;
  for (const char* name :
       {"credvault/v1/common.proto", "credvault/v1/audit.proto",
        "credvault/v1/credential_service.proto", "credvault/v1/credential_access_service.proto",
        "credvault/v1/admin_service.proto"}) {
    const FileDescriptor* file = pool.FindFileByName(name);
    EXPECT_NE(file, nullptr) << name;
    if (file != nullptr) files.push_back(file);
  }
  return files;
}

TEST(ProtoContractTest, NoOtherServiceIsDefined) {
  std::vector<std::string> services;
  for (const FileDescriptor* file : ContractFiles(GeneratedPool())) {
    EXPECT_EQ(file->package(), kPackage) << file->name();
    EXPECT_EQ(file->syntax(), FileDescriptor::SYNTAX_PROTO3) << file->name();
    for (int i = 0; i < file->service_count(); ++i) {
      services.push_back(file->service(i)->full_name());
    }
  }
  EXPECT_THAT(services, UnorderedElementsAreArray({"credvault.v1.CredentialService",
                                                   "credvault.v1.CredentialAccessService",
                                                   "credvault.v1.AdminService"}));
}

// ---------------------------------------------------------------------------------------
// (2) No secret material in responses.

// Substrings that no field of a response may have in its name (compared in lower case).
constexpr std::string_view kForbiddenNameParts[] = {"secret",     "plaintext", "envelope",
                                                    "ciphertext", "dek",       "private"};

// Messages that can hold arbitrary data and so would defeat this check.
constexpr std::string_view kOpaqueMessages[] = {"google.protobuf.Any", "google.protobuf.Struct",
                                                "google.protobuf.Value",
                                                "google.protobuf.ListValue"};

std::string Lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Walks `root` and every message reachable from it (fields, map entries, oneofs, nested
// messages, cycles visited once) and returns one line per violation:
//   * a field whose name contains a forbidden part;
//   * a bytes field not in `bytes_allowlist` (full field names);
//   * a field of an opaque message type.
// `visited` receives the full name of every message walked, so callers can check that the
// walk reached what they expect.
std::vector<std::string> FindSecretMaterial(const Descriptor& root,
                                            const std::set<std::string>& bytes_allowlist,
                                            std::set<std::string>& visited) {
  std::vector<std::string> violations;
  std::vector<const Descriptor*> pending = {&root};
  while (!pending.empty()) {
    const Descriptor* message = pending.back();
    pending.pop_back();
    if (!visited.insert(message->full_name()).second) continue;
    for (int i = 0; i < message->field_count(); ++i) {
      const FieldDescriptor& field = *message->field(i);
      const std::string name = Lowercase(field.name());
      for (std::string_view part : kForbiddenNameParts) {
        if (name.find(part) != std::string::npos) {
          violations.push_back(field.full_name() + ": name contains \"" + std::string(part) + "\"");
        }
      }
      if (field.type() == FieldDescriptor::TYPE_BYTES &&
          bytes_allowlist.count(field.full_name()) == 0) {
        violations.push_back(field.full_name() + ": bytes field not on the allowlist");
      }
      if (const Descriptor* type = field.message_type(); type != nullptr) {
        for (std::string_view opaque : kOpaqueMessages) {
          if (type->full_name() == opaque) {
            violations.push_back(field.full_name() + ": opaque type " + type->full_name());
          }
        }
        pending.push_back(type);
      }
    }
    // Nested types are part of the message's contract even if no field uses them yet.
    for (int i = 0; i < message->nested_type_count(); ++i) {
      pending.push_back(message->nested_type(i));
    }
  }
  return violations;
}

std::vector<std::string> FindSecretMaterialInResponses(const ServiceDescriptor& service,
                                                       const std::set<std::string>& allowlist,
                                                       std::set<std::string>& visited) {
  std::vector<std::string> violations;
  for (int i = 0; i < service.method_count(); ++i) {
    const std::vector<std::string> found =
        FindSecretMaterial(*service.method(i)->output_type(), allowlist, visited);
    violations.insert(violations.end(), found.begin(), found.end());
  }
  return violations;
}

// A CredentialService response carries no bytes at all: nothing in it is computed from a
// secret (docs/security-model.md).
const std::set<std::string>& CredentialServiceBytesAllowlist() {
  static const auto* const allowlist = new std::set<std::string>{};
  return *allowlist;
}

TEST(ProtoContractTest, CredentialServiceResponsesCarryNoSecretMaterial) {
  const ServiceDescriptor* service = FindService("CredentialService");
  ASSERT_NE(service, nullptr);
  std::set<std::string> visited;
  EXPECT_THAT(FindSecretMaterialInResponses(*service, CredentialServiceBytesAllowlist(), visited),
              IsEmpty());

  // The walk must reach the nested messages, or the check above proves nothing.
  for (const char* message :
       {"credvault.v1.PutCredentialResponse", "credvault.v1.DeleteCredentialResponse",
        "credvault.v1.DescribeCredentialResponse", "credvault.v1.ListCredentialsResponse",
        "credvault.v1.CompareCredentialResponse", "credvault.v1.CredentialMetadata",
        "credvault.v1.CredentialMetadata.LabelsEntry", "google.protobuf.Timestamp"}) {
    EXPECT_EQ(visited.count(message), 1u) << message << " was not walked";
  }
  // A stale allowlist entry would silently allow a future field of that name.
  for (const std::string& field : CredentialServiceBytesAllowlist()) {
    const FieldDescriptor* descriptor = GeneratedPool().FindFieldByName(field);
    ASSERT_NE(descriptor, nullptr) << field;
    EXPECT_EQ(descriptor->type(), FieldDescriptor::TYPE_BYTES) << field;
  }
}

// AdminService returns public keys, hashes and signatures, never secret material.
TEST(ProtoContractTest, AdminServiceResponsesCarryNoSecretMaterial) {
  const ServiceDescriptor* service = FindService("AdminService");
  ASSERT_NE(service, nullptr);
  const std::set<std::string> allowlist = {
      "credvault.v1.AuditEvent.prev_hash",
      "credvault.v1.AuditEvent.hash",
      "credvault.v1.AuditCheckpoint.chain_head_hash",
      "credvault.v1.AuditCheckpoint.signature",
      "credvault.v1.AuditSigningKey.public_key",
      "credvault.v1.OrgKeyVersion.public_key",
      "credvault.v1.ErasureReceipt.audit_chain_head",
      "credvault.v1.ErasureReceipt.signature",
      "credvault.v1.RotateRootKeyResponse.root_public_key",
  };
  std::set<std::string> visited;
  EXPECT_THAT(FindSecretMaterialInResponses(*service, allowlist, visited), IsEmpty());
  EXPECT_EQ(visited.count("credvault.v1.ErasureReceipt"), 1u);
  EXPECT_EQ(visited.count("credvault.v1.AuditCheckpoint"), 1u);
}

// The checker itself must catch what it is meant to catch, including deep in the tree,
// in map values and through cycles; proven on a separate, hand-built pool.
TEST(ProtoContractTest, SecretMaterialCheckerFlagsLeaks) {
  FileDescriptorProto file;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "leak_test.proto"
        package: "leak"
        syntax: "proto3"
        message_type {
          name: "Response"
          field { name: "meta" number: 1 type: TYPE_MESSAGE type_name: ".leak.Meta" }
          field {
            name: "by_name"
            number: 2
            label: LABEL_REPEATED
            type: TYPE_MESSAGE
            type_name: ".leak.Response.ByNameEntry"
          }
          nested_type {
            name: "ByNameEntry"
            options { map_entry: true }
            field { name: "key" number: 1 type: TYPE_STRING }
            field { name: "value" number: 2 type: TYPE_MESSAGE type_name: ".leak.Meta" }
          }
        }
        message_type {
          name: "Meta"
          field { name: "fingerprint" number: 1 type: TYPE_BYTES }
          field { name: "wrapped_dek_hint" number: 2 type: TYPE_STRING }
          field { name: "blob" number: 3 type: TYPE_BYTES }
          field { name: "parent" number: 4 type: TYPE_MESSAGE type_name: ".leak.Response" }
        }
      )pb",
      &file));
  DescriptorPool pool;
  ASSERT_NE(pool.BuildFile(file), nullptr);
  std::set<std::string> visited;
  EXPECT_THAT(FindSecretMaterial(*pool.FindMessageTypeByName("leak.Response"),
                                 {"leak.Meta.fingerprint"}, visited),
              UnorderedElementsAreArray({"leak.Meta.wrapped_dek_hint: name contains \"dek\"",
                                         "leak.Meta.blob: bytes field not on the allowlist"}));
}

// ---------------------------------------------------------------------------------------
// (3) Request fields the design relies on.

const FieldDescriptor* Field(const Descriptor& message, std::string_view name) {
  const FieldDescriptor* field = message.FindFieldByName(std::string(name));
  EXPECT_NE(field, nullptr) << message.full_name() << " has no field " << name;
  return field;
}

void ExpectSingular(const Descriptor& message, std::string_view name, FieldDescriptor::Type type,
                    bool explicit_presence) {
  const FieldDescriptor* field = Field(message, name);
  if (field == nullptr) return;
  EXPECT_EQ(field->type(), type) << field->full_name();
  EXPECT_FALSE(field->is_repeated()) << field->full_name();
  EXPECT_EQ(field->has_presence(), explicit_presence) << field->full_name();
}

void ExpectMessageField(const Descriptor& message, std::string_view name,
                        std::string_view type_name) {
  const FieldDescriptor* field = Field(message, name);
  if (field == nullptr) return;
  ASSERT_EQ(field->type(), FieldDescriptor::TYPE_MESSAGE) << field->full_name();
  EXPECT_EQ(field->message_type()->full_name(), type_name) << field->full_name();
  EXPECT_FALSE(field->is_repeated()) << field->full_name();
}

TEST(ProtoContractTest, DecryptCredentialRequestRequiresPurpose) {
  const Descriptor& request = *DecryptCredentialRequest::descriptor();
  ExpectSingular(request, "org_id", FieldDescriptor::TYPE_STRING, false);
  ExpectSingular(request, "name", FieldDescriptor::TYPE_STRING, false);
  ExpectSingular(request, "version", FieldDescriptor::TYPE_UINT64, true);
  ExpectSingular(request, "purpose", FieldDescriptor::TYPE_STRING, false);

  const Descriptor& response = *DecryptCredentialResponse::descriptor();
  ExpectSingular(response, "secret", FieldDescriptor::TYPE_BYTES, false);
  ExpectMessageField(response, "credential", "credvault.v1.CredentialMetadata");
}

TEST(ProtoContractTest, PutCredentialRequestHasTheContractFields) {
  const Descriptor& request = *PutCredentialRequest::descriptor();
  ExpectSingular(request, "org_id", FieldDescriptor::TYPE_STRING, false);
  ExpectSingular(request, "name", FieldDescriptor::TYPE_STRING, false);
  ExpectSingular(request, "secret", FieldDescriptor::TYPE_BYTES, false);
  ExpectSingular(request, "idempotency_key", FieldDescriptor::TYPE_STRING, false);
  ExpectSingular(request, "max_versions", FieldDescriptor::TYPE_UINT32, true);

  const FieldDescriptor* labels = Field(request, "labels");
  ASSERT_NE(labels, nullptr);
  ASSERT_TRUE(labels->is_map());
  EXPECT_EQ(labels->message_type()->map_key()->type(), FieldDescriptor::TYPE_STRING);
  EXPECT_EQ(labels->message_type()->map_value()->type(), FieldDescriptor::TYPE_STRING);

  // Check-and-set: an expected version or "must not exist", never both.
  ExpectSingular(request, "expected_version", FieldDescriptor::TYPE_UINT64, true);
  ExpectSingular(request, "must_not_exist", FieldDescriptor::TYPE_BOOL, true);
  const FieldDescriptor* expected_version = Field(request, "expected_version");
  const FieldDescriptor* must_not_exist = Field(request, "must_not_exist");
  ASSERT_NE(expected_version, nullptr);
  ASSERT_NE(must_not_exist, nullptr);
  ASSERT_NE(expected_version->real_containing_oneof(), nullptr);
  EXPECT_EQ(expected_version->real_containing_oneof(), must_not_exist->real_containing_oneof());
  EXPECT_EQ(expected_version->real_containing_oneof()->field_count(), 2);

  // Expiry: an absolute time or a time to live, never both.
  ExpectMessageField(request, "expire_time", "google.protobuf.Timestamp");
  ExpectMessageField(request, "ttl", "google.protobuf.Duration");
  const FieldDescriptor* expire_time = Field(request, "expire_time");
  const FieldDescriptor* ttl = Field(request, "ttl");
  ASSERT_NE(expire_time, nullptr);
  ASSERT_NE(ttl, nullptr);
  ASSERT_NE(expire_time->real_containing_oneof(), nullptr);
  EXPECT_EQ(expire_time->real_containing_oneof(), ttl->real_containing_oneof());

  const Descriptor& response = *PutCredentialResponse::descriptor();
  ExpectMessageField(response, "credential", "credvault.v1.CredentialMetadata");
  ExpectSingular(response, "idempotent_replay", FieldDescriptor::TYPE_BOOL, false);
}

TEST(ProtoContractTest, CredentialMetadataHasTheContractFields) {
  const Descriptor& metadata = *CredentialMetadata::descriptor();
  ExpectSingular(metadata, "org_id", FieldDescriptor::TYPE_STRING, false);
  ExpectSingular(metadata, "name", FieldDescriptor::TYPE_STRING, false);
  ExpectSingular(metadata, "version", FieldDescriptor::TYPE_UINT64, false);
  ExpectSingular(metadata, "current_version", FieldDescriptor::TYPE_UINT64, false);
  ExpectSingular(metadata, "state", FieldDescriptor::TYPE_ENUM, false);
  ExpectSingular(metadata, "created_by", FieldDescriptor::TYPE_STRING, false);
  ExpectSingular(metadata, "org_key_version", FieldDescriptor::TYPE_UINT32, false);
  for (const char* time :
       {"create_time", "update_time", "expire_time", "delete_time", "purge_time"}) {
    ExpectMessageField(metadata, time, "google.protobuf.Timestamp");
  }
  EXPECT_EQ(metadata.FindFieldByName("fingerprint"), nullptr)
      << "a fingerprint of the secret would let the write tier test guesses offline";
  const FieldDescriptor* labels = Field(metadata, "labels");
  ASSERT_NE(labels, nullptr);
  EXPECT_TRUE(labels->is_map());
}

// ---------------------------------------------------------------------------------------
// (4) Documentation and the shipped descriptor set.

FileDescriptorSet LoadDescriptorSet() {
  FileDescriptorSet set;
  std::ifstream in(CREDVAULT_PROTO_DESCRIPTOR_SET, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << CREDVAULT_PROTO_DESCRIPTOR_SET;
  EXPECT_TRUE(set.ParseFromIstream(&in)) << "cannot parse " << CREDVAULT_PROTO_DESCRIPTOR_SET;
  return set;
}

template <typename T>
void ExpectDocumented(const T& element, std::vector<std::string>& undocumented) {
  SourceLocation location;
  if (!element.GetSourceLocation(&location) ||
      location.leading_comments.find_first_not_of(" \n") == std::string::npos) {
    undocumented.push_back(element.full_name());
  }
}

void CollectUndocumented(const Descriptor& message, std::vector<std::string>& undocumented) {
  if (message.options().map_entry()) return;  // Synthesised for a map field.
  ExpectDocumented(message, undocumented);
  for (int i = 0; i < message.field_count(); ++i) {
    ExpectDocumented(*message.field(i), undocumented);
  }
  for (int i = 0; i < message.oneof_decl_count(); ++i) {
    if (!message.oneof_decl(i)->is_synthetic()) {
      ExpectDocumented(*message.oneof_decl(i), undocumented);
    }
  }
  for (int i = 0; i < message.nested_type_count(); ++i) {
    CollectUndocumented(*message.nested_type(i), undocumented);
  }
  for (int i = 0; i < message.enum_type_count(); ++i) {
    ExpectDocumented(*message.enum_type(i), undocumented);
    for (int j = 0; j < message.enum_type(i)->value_count(); ++j) {
      ExpectDocumented(*message.enum_type(i)->value(j), undocumented);
    }
  }
}

TEST(ProtoContractTest, EveryElementIsDocumented) {
  const FileDescriptorSet set = LoadDescriptorSet();
  DescriptorPool pool;
  for (const FileDescriptorProto& file : set.file()) {
    ASSERT_NE(pool.BuildFile(file), nullptr) << file.name();
  }
  std::vector<std::string> undocumented;
  const std::vector<const FileDescriptor*> files = ContractFiles(pool);
  ASSERT_EQ(files.size(), 5u);
  for (const FileDescriptor* file : files) {
    for (int i = 0; i < file->message_type_count(); ++i) {
      CollectUndocumented(*file->message_type(i), undocumented);
    }
    for (int i = 0; i < file->enum_type_count(); ++i) {
      ExpectDocumented(*file->enum_type(i), undocumented);
      for (int j = 0; j < file->enum_type(i)->value_count(); ++j) {
        ExpectDocumented(*file->enum_type(i)->value(j), undocumented);
      }
    }
    for (int i = 0; i < file->service_count(); ++i) {
      ExpectDocumented(*file->service(i), undocumented);
      for (int j = 0; j < file->service(i)->method_count(); ++j) {
        ExpectDocumented(*file->service(i)->method(j), undocumented);
      }
    }
  }
  EXPECT_THAT(undocumented, IsEmpty());
}

TEST(ProtoContractTest, DescriptorSetMatchesGeneratedCode) {
  const FileDescriptorSet set = LoadDescriptorSet();
  for (const FileDescriptor* generated : ContractFiles(GeneratedPool())) {
    FileDescriptorProto expected;
    generated->CopyTo(&expected);
    generated->CopyJsonNameTo(&expected);  // protoc writes json_name into descriptor sets.
    const auto shipped = std::find_if(
        set.file().begin(), set.file().end(),
        [&](const FileDescriptorProto& file) { return file.name() == generated->name(); });
    ASSERT_NE(shipped, set.file().end()) << generated->name();
    FileDescriptorProto actual = *shipped;
    actual.clear_source_code_info();
    EXPECT_EQ(actual.DebugString(), expected.DebugString()) << generated->name();
  }
}

}  // namespace
}  // namespace credvault::v1
