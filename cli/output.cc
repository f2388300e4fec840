#include "cli/output.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"

namespace credvault::cli {
namespace {

using google::protobuf::Timestamp;

// Key/value lines whose values start in one column.
class Fields {
 public:
  Fields& Add(absl::string_view key, std::string value) {
    rows_.emplace_back(std::string(key), std::move(value));
    return *this;
  }

  std::string Render() const {
    std::size_t width = 0;
    for (const auto& [key, value] : rows_) width = std::max(width, key.size());
    std::string out;
    for (const auto& [key, value] : rows_) {
      absl::StrAppend(&out, key, ":", std::string(width - key.size() + 1, ' '),
                      EscapeForTerminal(value), "\n");
    }
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
};

// Columns padded to their widest cell, separated by two spaces; no trailing blanks.
std::string RenderTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  std::vector<std::vector<std::string>> escaped;
  for (const auto& row : rows) {
    std::vector<std::string>& cells = escaped.emplace_back();
    for (std::size_t i = 0; i < row.size(); ++i) {
      cells.push_back(EscapeForTerminal(row[i]));
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], cells.back().size());
    }
  }
  std::string out;
  for (const auto& cells : escaped) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i + 1 == cells.size()) {
        absl::StrAppend(&line, cells[i]);
      } else {
        absl::StrAppend(&line, cells[i], std::string(widths[i] - cells[i].size() + 2, ' '));
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string Time(bool present, const Timestamp& time, absl::string_view absent = "-") {
  if (!present) return std::string(absent);
  return google::protobuf::util::TimeUtil::ToString(time);
}

std::string Hex(const std::string& bytes) {
  return bytes.empty() ? "-" : absl::BytesToHexString(bytes);
}

// "CREDENTIAL_STATE_ACTIVE" -> "ACTIVE": the prefix only repeats the enum's name.
std::string EnumValue(const std::string& name, absl::string_view prefix) {
  if (name.empty()) return "UNKNOWN";
  if (absl::StartsWith(name, prefix)) return name.substr(prefix.size());
  return name;
}

std::string CredentialState(v1::CredentialState state) {
  return EnumValue(v1::CredentialState_Name(state), "CREDENTIAL_STATE_");
}

std::string Labels(const google::protobuf::Map<std::string, std::string>& labels) {
  if (labels.empty()) return "-";
  std::vector<std::pair<std::string, std::string>> sorted(labels.begin(), labels.end());
  std::sort(sorted.begin(), sorted.end());
  return absl::StrJoin(sorted, ", ", absl::PairFormatter("="));
}

std::string OptionalText(const std::string& text) { return text.empty() ? "-" : text; }

std::string NextPage(const std::string& token) {
  return token.empty() ? "" : absl::StrCat("next_page_token: ", EscapeForTerminal(token), "\n");
}

void AddMetadataFields(const v1::CredentialMetadata& m, Fields* fields) {
  fields->Add("org_id", m.org_id())
      .Add("name", m.name())
      .Add("version", absl::StrCat(m.version()))
      .Add("current_version", absl::StrCat(m.current_version()))
      .Add("state", CredentialState(m.state()))
      .Add("labels", Labels(m.labels()))
      .Add("created_by", OptionalText(m.created_by()))
      .Add("create_time", Time(m.has_create_time(), m.create_time()))
      .Add("update_time", Time(m.has_update_time(), m.update_time()))
      .Add("expire_time", Time(m.has_expire_time(), m.expire_time(), "never"))
      .Add("delete_time", Time(m.has_delete_time(), m.delete_time()))
      .Add("purge_time", Time(m.has_purge_time(), m.purge_time()))
      .Add("org_key_version", absl::StrCat(m.org_key_version()))
      .Add("max_versions", m.max_versions() == 0 ? "0 (unlimited)" : absl::StrCat(m.max_versions()))
      .Add("live_version_count", absl::StrCat(m.live_version_count()));
}

void AddCheckpointFields(absl::string_view prefix, const v1::AuditCheckpoint& c, Fields* fields) {
  fields->Add(absl::StrCat(prefix, ".sequence"), absl::StrCat(c.sequence()))
      .Add(absl::StrCat(prefix, ".kind"),
           EnumValue(v1::AuditCheckpointKind_Name(c.kind()), "AUDIT_CHECKPOINT_KIND_"))
      .Add(absl::StrCat(prefix, ".time"), Time(c.has_time(), c.time()))
      .Add(absl::StrCat(prefix, ".chain_head_hash"), Hex(c.chain_head_hash()))
      .Add(absl::StrCat(prefix, ".signing_key_id"), OptionalText(c.signing_key_id()));
}

void AddResealJobFields(absl::string_view prefix, const v1::ResealJob& job, Fields* fields) {
  const auto key = [&](absl::string_view name) { return absl::StrCat(prefix, name); };
  fields->Add(key("job_id"), job.job_id())
      .Add(key("org_id"), job.org_id())
      .Add(key("kind"), EnumValue(v1::ResealJobKind_Name(job.kind()), "RESEAL_JOB_KIND_"))
      .Add(key("state"), EnumValue(v1::ResealJobState_Name(job.state()), "RESEAL_JOB_STATE_"))
      .Add(key("key_versions"), absl::StrCat(job.from_key_version(), " -> ", job.to_key_version()))
      .Add(key("progress"), absl::StrCat(job.items_done(), "/", job.items_total()))
      .Add(key("start_time"), Time(job.has_start_time(), job.start_time()))
      .Add(key("update_time"), Time(job.has_update_time(), job.update_time()))
      .Add(key("end_time"), Time(job.has_end_time(), job.end_time()))
      .Add(key("last_error"), OptionalText(job.last_error()));
}

void AddReceiptFields(absl::string_view prefix, const v1::ErasureReceipt& r, Fields* fields) {
  const auto key = [&](absl::string_view name) { return absl::StrCat(prefix, name); };
  fields->Add(key("org_id"), r.org_id())
      .Add(key("destroyed_key_versions"), absl::StrJoin(r.destroyed_key_versions(), ","))
      .Add(key("destroy_time"), Time(r.has_destroy_time(), r.destroy_time()))
      .Add(key("erased_credential_version_count"),
           absl::StrCat(r.erased_credential_version_count()))
      .Add(key("audit_sequence"), absl::StrCat(r.audit_sequence()))
      .Add(key("audit_chain_head"), Hex(r.audit_chain_head()))
      .Add(key("signing_key_id"), OptionalText(r.signing_key_id()))
      .Add(key("signature"), Hex(r.signature()));
}

}  // namespace

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print the response as JSON: ", std::string(status.message())));
  }
  return json;
}

std::string EscapeForTerminal(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02x", byte);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormatRpcError(const grpc::Status& status, absl::string_view reason) {
  std::string message = EscapeForTerminal(status.error_message());
  // gRPC itself answers a method that the listener does not serve, with no message.
  if (message.empty() && status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    message = "this listener does not serve that method (is --addr the right listener?)";
  }
  std::string line = absl::StrCat("credvaultctl: ", GrpcStatusCodeName(status.error_code()), " (",
                                  static_cast<int>(status.error_code()), "): ", message);
  if (!reason.empty()) {
    absl::StrAppend(&line, " [credvault-error-reason: ", EscapeForTerminal(reason), "]");
  }
  return line;
}

std::string FormatCredentialMetadata(const v1::CredentialMetadata& metadata) {
  Fields fields;
  AddMetadataFields(metadata, &fields);
  return fields.Render();
}

std::string FormatPutResponse(const v1::PutCredentialResponse& response) {
  Fields fields;
  AddMetadataFields(response.credential(), &fields);
  fields.Add("idempotent_replay", response.idempotent_replay() ? "true" : "false");
  return fields.Render();
}

std::string FormatDeleteResponse(const v1::DeleteCredentialResponse& response) {
  Fields fields;
  AddMetadataFields(response.credential(), &fields);
  fields.Add("affected_version_count", absl::StrCat(response.affected_version_count()))
      .Add("idempotent_replay", response.idempotent_replay() ? "true" : "false");
  return fields.Render();
}

std::string FormatCompareResponse(const v1::CompareCredentialResponse& response) {
  return absl::StrCat(response.match() ? "match" : "no match", " (version ", response.version(),
                      ")\n");
}

std::string FormatOrgInfo(const v1::OrgInfo& org) {
  Fields fields;
  fields.Add("org_id", org.org_id())
      .Add("state", EnumValue(v1::OrgState_Name(org.state()), "ORG_STATE_"))
      .Add("current_key_version", absl::StrCat(org.current_key_version()))
      .Add("create_time", Time(org.has_create_time(), org.create_time()))
      .Add("destroy_time", Time(org.has_destroy_time(), org.destroy_time()));
  if (org.has_erasure_receipt())
    AddReceiptFields("erasure_receipt.", org.erasure_receipt(), &fields);
  std::string out = fields.Render();
  std::vector<std::vector<std::string>> rows = {
      {"KEY_VERSION", "STATE", "ROOT_KEY", "CREATED", "RETIRED", "DESTROYED", "PUBLIC_KEY"}};
  for (const v1::OrgKeyVersion& key : org.key_versions()) {
    rows.push_back({absl::StrCat(key.version()),
                    EnumValue(v1::OrgKeyState_Name(key.state()), "ORG_KEY_STATE_"),
                    absl::StrCat(key.root_key_version()),
                    Time(key.has_create_time(), key.create_time()),
                    Time(key.has_retire_time(), key.retire_time()),
                    Time(key.has_destroy_time(), key.destroy_time()), Hex(key.public_key())});
  }
  absl::StrAppend(&out, "\n", RenderTable(rows));
  return out;
}

std::string FormatErasureReceipt(const v1::ErasureReceipt& receipt) {
  Fields fields;
  AddReceiptFields("", receipt, &fields);
  return fields.Render();
}

std::string FormatResealJob(const v1::ResealJob& job) {
  Fields fields;
  AddResealJobFields("", job, &fields);
  return fields.Render();
}

std::string FormatRotateOrgKeyResponse(const v1::RotateOrgKeyResponse& response) {
  Fields fields;
  fields.Add("org_id", response.org().org_id())
      .Add("current_key_version", absl::StrCat(response.org().current_key_version()))
      .Add("idempotent_replay", response.idempotent_replay() ? "true" : "false");
  AddResealJobFields("reseal_job.", response.reseal_job(), &fields);
  return fields.Render();
}

std::string FormatRotateRootKeyResponse(const v1::RotateRootKeyResponse& response) {
  Fields fields;
  fields.Add("root_key_version", absl::StrCat(response.root_key_version()))
      .Add("previous_root_key_version", absl::StrCat(response.previous_root_key_version()))
      .Add("root_public_key", Hex(response.root_public_key()))
      .Add("idempotent_replay", response.idempotent_replay() ? "true" : "false");
  AddResealJobFields("reseal_job.", response.reseal_job(), &fields);
  return fields.Render();
}

std::string FormatVerifyAuditLogResponse(const v1::VerifyAuditLogResponse& response) {
  Fields fields;
  fields.Add("ok", response.ok() ? "true" : "false");
  if (!response.ok()) {
    fields.Add("first_broken_sequence", absl::StrCat(response.first_broken_sequence()))
        .Add("failure_reason",
             EnumValue(v1::AuditVerificationFailure_Name(response.failure_reason()),
                       "AUDIT_VERIFICATION_FAILURE_"))
        .Add("failure_detail", OptionalText(response.failure_detail()));
  }
  fields.Add("events_checked", absl::StrCat(response.events_checked()))
      .Add("start_sequence", absl::StrCat(response.start_sequence()))
      .Add("end_sequence", absl::StrCat(response.end_sequence()));
  if (response.has_anchor_checkpoint()) {
    AddCheckpointFields("anchor_checkpoint", response.anchor_checkpoint(), &fields);
  }
  if (response.has_latest_checkpoint()) {
    AddCheckpointFields("latest_checkpoint", response.latest_checkpoint(), &fields);
  }
  return fields.Render();
}

namespace {

std::string OfflineFailureName(crypto::AuditExportFailure failure) {
  return std::string(crypto::AuditExportFailureName(failure));
}

// Where the verified chain starts from, in words.
std::string Anchor(const OfflineAuditVerification& v) {
  const crypto::AuditExportVerification& r = v.result;
  if (r.events_checked == 0) return "-";
  if (r.start_sequence == 1) return "genesis";
  if (v.anchor_checkpoint.has_value()) {
    return absl::StrCat("checkpoint at ", v.anchor_checkpoint->sequence());
  }
  return absl::StrCat("none: a partial range from event ", r.start_sequence,
                      " (nothing shows what came before it)");
}

}  // namespace

std::string FormatOfflineAuditVerification(const OfflineAuditVerification& v) {
  const crypto::AuditExportVerification& r = v.result;
  Fields fields;
  fields.Add("ok", r.ok ? "true" : "false").Add("org_id", v.org_id);
  if (!r.ok) {
    fields.Add("first_broken_sequence", absl::StrCat(r.first_broken_sequence))
        .Add("failure_reason", OfflineFailureName(r.failure))
        .Add("failure_detail", OptionalText(r.failure_detail));
  }
  fields.Add("events_checked", absl::StrCat(r.events_checked))
      .Add("start_sequence", absl::StrCat(r.start_sequence))
      .Add("end_sequence", absl::StrCat(r.end_sequence))
      .Add("anchor", Anchor(v))
      .Add("signed_through_sequence", absl::StrCat(r.signed_through_sequence))
      .Add("events_signed", absl::StrCat(r.events_signed))
      .Add("signatures_verified", absl::StrCat(r.signatures_verified))
      .Add("pinned_key_ids", absl::StrJoin(v.pinned_key_ids, ","));
  if (v.anchor_checkpoint.has_value()) {
    AddCheckpointFields("anchor_checkpoint", *v.anchor_checkpoint, &fields);
  }
  if (v.latest_checkpoint.has_value()) {
    AddCheckpointFields("latest_checkpoint", *v.latest_checkpoint, &fields);
  }
  return fields.Render();
}

absl::StatusOr<std::string> OfflineAuditVerificationJson(const OfflineAuditVerification& v) {
  const crypto::AuditExportVerification& r = v.result;
  // In the order of VerifyAuditLogResponse, then what only an offline check has.
  nlohmann::ordered_json document = {
      {"ok", r.ok},
      {"org_id", v.org_id},
      {"first_broken_sequence", absl::StrCat(r.first_broken_sequence)},
      {"failure_reason",
       absl::StrCat("AUDIT_VERIFICATION_FAILURE_", OfflineFailureName(r.failure))},
      {"failure_detail", r.failure_detail},
      {"events_checked", absl::StrCat(r.events_checked)},
      {"start_sequence", absl::StrCat(r.start_sequence)},
      {"end_sequence", absl::StrCat(r.end_sequence)},
      {"signed_through_sequence", absl::StrCat(r.signed_through_sequence)},
      {"events_signed", absl::StrCat(r.events_signed)},
      {"signatures_verified", absl::StrCat(r.signatures_verified)},
      {"pinned_key_ids", v.pinned_key_ids},
  };
  const auto add_checkpoint = [&document](const char* key,
                                          const std::optional<v1::AuditCheckpoint>& c) {
    if (!c.has_value()) return absl::OkStatus();
    absl::StatusOr<std::string> json = ToJson(*c);
    if (!json.ok()) return json.status();
    document[key] = nlohmann::ordered_json::parse(*json);
    return absl::OkStatus();
  };
  if (absl::Status s = add_checkpoint("anchor_checkpoint", v.anchor_checkpoint); !s.ok()) return s;
  if (absl::Status s = add_checkpoint("latest_checkpoint", v.latest_checkpoint); !s.ok()) return s;
  // Text from the export may be any bytes: replace what is not UTF-8 rather than fail.
  return document.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string FormatCredentialList(const v1::ListCredentialsResponse& response) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "VERSION", "STATE", "UPDATED", "EXPIRES", "LABELS"}};
  for (const v1::CredentialMetadata& m : response.credentials()) {
    rows.push_back({m.name(), absl::StrCat(m.version()), CredentialState(m.state()),
                    Time(m.has_update_time(), m.update_time()),
                    Time(m.has_expire_time(), m.expire_time(), "never"), Labels(m.labels())});
  }
  return absl::StrCat(RenderTable(rows), NextPage(response.next_page_token()));
}

std::string FormatResealJobList(const v1::ListResealJobsResponse& response) {
  std::vector<std::vector<std::string>> rows = {
      {"JOB_ID", "KIND", "STATE", "KEY_VERSIONS", "PROGRESS", "STARTED", "ENDED"}};
  for (const v1::ResealJob& job : response.jobs()) {
    rows.push_back({job.job_id(), EnumValue(v1::ResealJobKind_Name(job.kind()), "RESEAL_JOB_KIND_"),
                    EnumValue(v1::ResealJobState_Name(job.state()), "RESEAL_JOB_STATE_"),
                    absl::StrCat(job.from_key_version(), " -> ", job.to_key_version()),
                    absl::StrCat(job.items_done(), "/", job.items_total()),
                    Time(job.has_start_time(), job.start_time()),
                    Time(job.has_end_time(), job.end_time())});
  }
  return absl::StrCat(RenderTable(rows), NextPage(response.next_page_token()));
}

std::string FormatOrgList(const v1::ListOrgsResponse& response) {
  std::vector<std::vector<std::string>> rows = {
      {"ORG_ID", "STATE", "KEY_VERSION", "CREATED", "DESTROYED"}};
  for (const v1::OrgSummary& org : response.orgs()) {
    rows.push_back({org.org_id(), EnumValue(v1::OrgState_Name(org.state()), "ORG_STATE_"),
                    org.current_key_version() == 0 ? "-" : absl::StrCat(org.current_key_version()),
                    Time(org.has_create_time(), org.create_time()),
                    Time(org.has_destroy_time(), org.destroy_time())});
  }
  return absl::StrCat(RenderTable(rows), NextPage(response.next_page_token()));
}

std::string FormatAuditEventList(const v1::ListAuditEventsResponse& response) {
  std::vector<std::vector<std::string>> rows = {
      {"SEQUENCE", "TIME", "PRINCIPAL", "ACTION", "TARGET", "RESULT", "DETAILS"}};
  for (const v1::AuditEvent& event : response.events()) {
    rows.push_back({absl::StrCat(event.sequence()), Time(event.has_time(), event.time()),
                    OptionalText(event.principal()), event.action(), OptionalText(event.target()),
                    event.result(), OptionalText(event.details())});
  }
  return absl::StrCat(RenderTable(rows), NextPage(response.next_page_token()));
}

}  // namespace credvault::cli
