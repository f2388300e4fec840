#include "server/auth/policy.h"

#include <sodium.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/base/read_file.h"
#include "server/schema/schema.h"
#include "server/schema/schema_parser.h"

namespace credvault::server {
namespace {

constexpr std::string_view kAllOrgs = "*";
constexpr std::string_view kTokenPrincipalPrefix = "token:";

// One `principals` entry as written in the file.
struct EntryDoc {
  std::string id;
  std::string token_name;
  std::string token_hash;
  std::vector<Role> roles;
  std::vector<std::string> orgs;
};

struct PolicyDoc {
  std::vector<EntryDoc> principals;
};

absl::Status CheckCertificateId(std::string_view id) {
  if (absl::Status status = ValidatePrincipalId(id); !status.ok()) return status;
  if (id.substr(0, kServiceAccountPrincipalPrefix.size()) == kServiceAccountPrincipalPrefix) {
    return ValidateServiceAccountPrincipalId(id);
  }
  if (id.substr(0, kTokenPrincipalPrefix.size()) == kTokenPrincipalPrefix) {
    return absl::InvalidArgumentError(
        "\"token:\" ids are reserved for bearer tokens; use token_name and token_hash");
  }
  return absl::OkStatus();
}

absl::Status CheckTokenName(std::string_view name) {
  const bool valid = name.size() <= 64 && absl::ascii_isalnum(name.front()) &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
                     });
  if (valid) return absl::OkStatus();
  return absl::InvalidArgumentError("must be 1-64 characters: [A-Za-z0-9] then [A-Za-z0-9._-]");
}

absl::Status CheckTokenHash(std::string_view hash) { return ParseTokenHash(hash).status(); }

absl::Status CheckOrgScope(std::string_view org) {
  if (org == kAllOrgs || IsValidOrgId(org)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "must be \"*\" or an org id (1-64 characters: [a-z0-9] then [a-z0-9._-])");
}

void VisitPolicy(SchemaVisitor& v, PolicyDoc& doc) {
  ListOfSections(
      v, "principals", &doc.principals,
      {.help = "Who may act. A principal that no entry names is denied everything.",
       .required = true},
      [&](EntryDoc& entry) {
        v.String("id", &entry.id,
                 {.help = "Certificate identity, matched exactly: the client certificate's "
                          "first URI SAN (e.g. spiffe://example.org/ns/prod/sa/backend), else "
                          "\"dns:<first DNS SAN>\", else \"cn:<subject CN>\". Or a "
                          "Kubernetes ServiceAccount, \"k8s:NAMESPACE/SERVICEACCOUNT\", "
                          "matched by its projected token (auth.kubernetes in the "
                          "configuration). Set either id, or token_name and token_hash.",
                  .check = CheckCertificateId});
        v.String("token_name", &entry.token_name,
                 {.help = "Name of a bearer token; the principal is \"token:<token_name>\".",
                  .check = CheckTokenName});
        v.String("token_hash", &entry.token_hash,
                 {.help = "Hash of the bearer token, as printed by `credvaultd hash-token` "
                          "(which reads the token from standard input): "
                          "\"blake2b256:<64 hex>\". The token itself is never stored.",
                  .check = CheckTokenHash});
        EnumListField(v, "roles", &entry.roles, RoleNames(),
                      {.help = "Roles granted: writer (CredentialService), decryptor "
                               "(DecryptCredential), admin and auditor (AdminService).",
                       .required = true});
        v.StringList("orgs", &entry.orgs,
                     {.help = "Orgs the roles apply to: org ids, or \"*\" alone for every "
                              "org (needed for operations that span orgs).",
                      .required = true,
                      .check = CheckOrgScope});
      });
}

// Cross-entry rules, reported like the schema's: "<source>: <key>: <why>".
void Problem(std::vector<std::string>& problems, std::string_view source, const std::string& key,
             std::string_view why) {
  problems.push_back(absl::StrCat(std::string(source), ": ", key, ": ", std::string(why)));
}

}  // namespace

bool IsValidOrgId(std::string_view org_id) {
  const auto allowed = [](char c) {
    return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'z') || c == '.' || c == '_' || c == '-';
  };
  return !org_id.empty() && org_id.size() <= 64 &&
         (absl::ascii_isdigit(org_id.front()) ||
          (org_id.front() >= 'a' && org_id.front() <= 'z')) &&
         std::all_of(org_id.begin(), org_id.end(), allowed);
}

absl::StatusOr<Policy> Policy::Parse(std::string_view yaml, std::string_view source_name) {
  PolicyDoc doc;
  if (absl::Status status =
          ParseYamlWithSchema(yaml, source_name, [&](SchemaVisitor& v) { VisitPolicy(v, doc); });
      !status.ok()) {
    return status;
  }

  Policy policy;
  std::vector<std::string> problems;
  std::map<TokenHash, std::size_t> token_hashes;  // -> entry index
  for (std::size_t i = 0; i < doc.principals.size(); ++i) {
    const EntryDoc& entry = doc.principals[i];
    const std::string key = absl::StrCat("principals[", i, "]");
    const bool has_token = !entry.token_name.empty() || !entry.token_hash.empty();
    if (!entry.id.empty() && has_token) {
      Problem(problems, source_name, key,
              "set either id (certificate identity) or token_name and token_hash, not both");
      continue;
    }
    if (entry.id.empty() && !has_token) {
      Problem(problems, source_name, key,
              "set id (certificate identity), or token_name and token_hash");
      continue;
    }
    if (has_token && entry.token_name.empty()) {
      Problem(problems, source_name, key + ".token_name", "required with token_hash");
      continue;
    }
    if (has_token && entry.token_hash.empty()) {
      Problem(problems, source_name, key + ".token_hash", "required with token_name");
      continue;
    }

    Grant grant;
    grant.roles.insert(entry.roles.begin(), entry.roles.end());
    for (const std::string& org : entry.orgs) {
      if (org == kAllOrgs) {
        grant.all_orgs = true;
      } else {
        grant.orgs.insert(org);
      }
    }
    if (grant.all_orgs && !grant.orgs.empty()) {
      Problem(problems, source_name, key + ".orgs",
              "\"*\" already covers every org; list it alone");
      continue;
    }

    if (!entry.id.empty()) {
      const bool service_account = entry.id.substr(0, kServiceAccountPrincipalPrefix.size()) ==
                                   kServiceAccountPrincipalPrefix;
      std::map<std::string, Grant>& grants =
          service_account ? policy.service_account_grants_ : policy.certificate_grants_;
      if (!grants.emplace(entry.id, std::move(grant)).second) {
        Problem(problems, source_name, key + ".id", absl::StrCat("duplicate principal ", entry.id));
      }
      continue;
    }
    const std::string principal_id =
        absl::StrCat(std::string(kTokenPrincipalPrefix), entry.token_name);
    if (!policy.token_grants_.emplace(principal_id, std::move(grant)).second) {
      Problem(problems, source_name, key + ".token_name",
              absl::StrCat("duplicate token name ", entry.token_name));
      continue;
    }
    const TokenHash hash = *ParseTokenHash(entry.token_hash);  // checked by the schema
    const auto [previous, inserted] = token_hashes.emplace(hash, i);
    if (!inserted) {
      // Two names for one token would make the caller's identity ambiguous.
      Problem(problems, source_name, key + ".token_hash",
              absl::StrCat("same token as principals[", previous->second, "]"));
      continue;
    }
    policy.tokens_.push_back(TokenEntry{.hash = hash, .principal_id = principal_id});
  }
  if (!problems.empty()) return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
  return policy;
}

absl::StatusOr<Policy> Policy::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> yaml = ReadSmallFile(path, "policy file");
  if (!yaml.ok()) return yaml.status();
  return Parse(*yaml, path);
}

absl::StatusOr<Principal> Policy::AuthenticateBearerToken(std::string_view token) const {
  const TokenHash presented = HashBearerTokenBytes(token);
  // Visit every entry and select the match with masks rather than branches, so that
  // neither the comparison nor the loop reveals where (or whether) a match was found.
  std::size_t match = 0;
  std::size_t found = 0;
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const int differs = sodium_memcmp(presented.data(), tokens_[i].hash.data(), presented.size());
    const std::size_t equal = static_cast<std::size_t>(differs + 1);  // 0 or -1 -> 1 or 0
    const std::size_t mask = std::size_t{0} - equal;
    match = (match & ~mask) | (i & mask);
    found |= equal;
  }
  if (found == 0) return absl::UnauthenticatedError("unknown bearer token");
  return Principal{.id = tokens_[match].principal_id, .source = PrincipalSource::kToken};
}

const Policy::Grant* Policy::FindGrant(const Principal& principal) const {
  const std::map<std::string, Grant>& grants =
      principal.source == PrincipalSource::kToken            ? token_grants_
      : principal.source == PrincipalSource::kServiceAccount ? service_account_grants_
                                                             : certificate_grants_;
  const auto it = grants.find(principal.id);
  return it == grants.end() ? nullptr : &it->second;
}

absl::Status Policy::Authorize(const Principal& principal, Role role,
                               std::string_view org_id) const {
  const Grant* grant = FindGrant(principal);
  const bool valid_org = IsValidOrgId(org_id);
  if (grant != nullptr && valid_org && grant->roles.count(role) != 0 &&
      (grant->all_orgs || grant->orgs.count(std::string(org_id)) != 0)) {
    return absl::OkStatus();
  }
  // One message for every reason, so a denial reveals nothing about the policy, the org
  // or its credentials. A malformed org id is not repeated (it could hold anything).
  return absl::PermissionDeniedError(
      absl::StrCat("principal ", principal.id, " may not act as ", std::string(RoleName(role)),
                   valid_org ? absl::StrCat(" for org ", std::string(org_id))
                             : std::string(" for the requested org")));
}

absl::Status Policy::AuthorizeAllOrgs(const Principal& principal, Role role) const {
  const Grant* grant = FindGrant(principal);
  if (grant != nullptr && grant->all_orgs && grant->roles.count(role) != 0) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("principal ", principal.id, " may not act as ",
                                                  std::string(RoleName(role)), " for every org"));
}

bool Policy::HasAnyGrantFor(const Principal& principal, std::string_view org_id) const {
  const Grant* grant = FindGrant(principal);
  return grant != nullptr && !grant->roles.empty() && IsValidOrgId(org_id) &&
         (grant->all_orgs || grant->orgs.count(std::string(org_id)) != 0);
}

std::vector<SchemaKey> Policy::DescribeSchema() {
  PolicyDoc doc;
  return server::DescribeSchema([&](SchemaVisitor& v) { VisitPolicy(v, doc); });
}

std::string Policy::RenderReference() {
  return absl::StrCat(
      "The access policy (policy_file) is a YAML file with a strict schema; credvaultd re-reads "
      "it on SIGHUP and keeps the old policy if the new one has any error.\n\n",
      RenderSchemaReference(DescribeSchema()));
}

}  // namespace credvault::server
