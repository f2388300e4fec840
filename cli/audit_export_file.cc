#include "cli/audit_export_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/output.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace credvault::cli {
namespace {

using crypto::AuditExportFailure;

// A value from the file as it may appear in a message: escaped, and short.
std::string Quote(absl::string_view text) {
  constexpr std::size_t kMaxShown = 64;
  std::string shown = EscapeForTerminal(text.substr(0, kMaxShown));
  if (text.size() > kMaxShown) absl::StrAppend(&shown, "...");
  return absl::StrCat("\"", shown, "\"");
}

std::vector<std::uint8_t> Bytes(const std::string& bytes) { return {bytes.begin(), bytes.end()}; }

// The chain commits to whole microseconds (the server stores no finer time), so a finer
// time cannot be the exported one.
std::optional<std::int64_t> Micros(const google::protobuf::Timestamp& time) {
  if (time.nanos() % 1000 != 0) return std::nullopt;
  return time.seconds() * 1000000 + time.nanos() / 1000;
}

class Reader {
 public:
  absl::StatusOr<AuditExportFile> Read(std::istream& in) {
    std::string line;
    if (!std::getline(in, line)) {
      if (in.bad()) return absl::DataLossError("read error");
      return absl::FailedPreconditionError("empty file: not a credvault audit export");
    }
    line_number_ = 1;
    if (absl::Status header = TakeHeader(line); !header.ok()) return header;
    while (!file_.defect.has_value() && std::getline(in, line)) {
      ++line_number_;
      // getline sets eof only when the line was not ended by a newline: a cut-off write.
      TakeLine(line, /*terminated=*/!in.eof());
    }
    if (in.bad()) return absl::DataLossError("read error");
    if (!file_.defect.has_value() && !end_seen_) {
      Defect(std::nullopt, AuditExportFailure::kSequenceGap,
             "the file ends without its end record: it is truncated");
    }
    return std::move(file_);
  }

 private:
  absl::Status TakeHeader(const std::string& line) {
    const nlohmann::json header = nlohmann::json::parse(line, nullptr, false);
    if (header.is_discarded() || !header.is_object() || !header.contains("format") ||
        !header["format"].is_string()) {
      return absl::FailedPreconditionError(
          "not a credvault audit export: its first line has no \"format\"");
    }
    const std::string format = header["format"].get<std::string>();
    if (format != kAuditExportFormat) {
      return absl::FailedPreconditionError(absl::StrCat("unsupported export format ", Quote(format),
                                                        "; this tool reads ", kAuditExportFormat));
    }
    if (!header.contains("org_id") || !header["org_id"].is_string() ||
        header["org_id"].get<std::string>().empty()) {
      return absl::FailedPreconditionError("the format line of the export names no org_id");
    }
    file_.contents.org_id = header["org_id"].get<std::string>();
    return absl::OkStatus();
  }

  void TakeLine(const std::string& line, bool terminated) {
    if (end_seen_) {
      Defect(std::nullopt, AuditExportFailure::kMalformedEvent, "content after the end record");
      return;
    }
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded()) {
      if (!terminated) {
        Defect(std::nullopt, AuditExportFailure::kSequenceGap,
               "the last line is cut short: the file is truncated");
      } else {
        Defect(std::nullopt, AuditExportFailure::kMalformedEvent, "not valid JSON");
      }
      return;
    }
    if (!record.is_object() || record.size() != 1) {
      Defect(std::nullopt, AuditExportFailure::kMalformedEvent,
             "not a record: expected one of {\"event\":...}, {\"checkpoint\":...}, "
             "{\"signing_key\":...}, {\"end\":...}");
      return;
    }
    const std::string& kind = record.begin().key();
    const nlohmann::json& value = record.begin().value();
    if (kind == "event") {
      TakeEvent(value);
    } else if (kind == "checkpoint") {
      TakeCheckpoint(value);
    } else if (kind == "signing_key") {
      v1::AuditSigningKey key;
      if (Parse(value, "AuditSigningKey", &key)) file_.signing_keys.push_back(std::move(key));
    } else if (kind == "end") {
      TakeEnd(value);
    } else {
      Defect(std::nullopt, AuditExportFailure::kMalformedEvent,
             absl::StrCat("unknown record ", Quote(kind)));
    }
  }

  void TakeEvent(const nlohmann::json& value) {
    v1::AuditEvent m;
    if (!Parse(value, "AuditEvent", &m)) return;
    const std::optional<std::int64_t> micros = Micros(m.time());
    if (!m.has_time() || !micros.has_value()) {
      Defect(m.sequence(), AuditExportFailure::kMalformedEvent,
             absl::StrCat("event ", m.sequence(), " has no time in whole microseconds"));
      return;
    }
    crypto::ExportedAuditEvent e;
    e.fields = crypto::AuditEventFields{m.org_id(),    m.sequence(),   *micros,
                                        m.principal(), m.action(),     m.target(),
                                        m.result(),    m.request_id(), m.details()};
    e.fields.appended_by = m.appended_by();
    // 0 is an export written before the field existed: format 1. Any other number is taken
    // as found, for the verifier to refuse if it does not know it.
    e.fields.format = m.chain_format() == 0
                          ? crypto::AuditChainFormat::kV1
                          : static_cast<crypto::AuditChainFormat>(m.chain_format());
    e.prev_hash = Bytes(m.prev_hash());
    e.hash = Bytes(m.hash());
    file_.contents.events.push_back(std::move(e));
  }

  void TakeCheckpoint(const nlohmann::json& value) {
    v1::AuditCheckpoint m;
    if (!Parse(value, "AuditCheckpoint", &m)) return;
    const std::optional<std::int64_t> micros = Micros(m.time());
    if (!m.has_time() || !micros.has_value()) {
      Defect(m.sequence(), AuditExportFailure::kMalformedEvent,
             absl::StrCat("checkpoint at ", m.sequence(), " has no time in whole microseconds"));
      return;
    }
    file_.contents.checkpoints.push_back(
        crypto::ExportedAuditCheckpoint{m.org_id(), m.sequence(), Bytes(m.chain_head_hash()),
                                        *micros, Bytes(m.signature()), m.signing_key_id()});
    file_.checkpoint_messages.push_back(std::move(m));
  }

  // The counts of the end record tell a file cut at a line boundary, or lines removed
  // from it, from a complete one. They are not signed: they catch accidents, and the
  // signed checkpoints catch the rest.
  void TakeEnd(const nlohmann::json& value) {
    const auto count = [&value](const char* name) -> std::optional<std::uint64_t> {
      if (!value.is_object() || !value.contains(name) || !value[name].is_number_unsigned()) {
        return std::nullopt;
      }
      return value[name].get<std::uint64_t>();
    };
    const std::optional<std::uint64_t> events = count("events");
    const std::optional<std::uint64_t> checkpoints = count("checkpoints");
    const std::optional<std::uint64_t> keys = count("signing_keys");
    if (!events.has_value() || !checkpoints.has_value() || !keys.has_value()) {
      Defect(std::nullopt, AuditExportFailure::kMalformedEvent,
             "the end record lacks its events, checkpoints and signing_keys counts");
      return;
    }
    end_seen_ = true;
    const std::uint64_t events_read = file_.contents.events.size();
    if (*events > events_read) {
      Defect(std::nullopt, AuditExportFailure::kSequenceGap,
             absl::StrCat("the end record counts ", *events, " events, the file holds ",
                          events_read, ": events were removed"));
    } else if (*events < events_read || *checkpoints != file_.contents.checkpoints.size() ||
               *keys != file_.signing_keys.size()) {
      Defect(std::nullopt, AuditExportFailure::kMalformedEvent,
             absl::StrCat("the end record counts ", *events, " events, ", *checkpoints,
                          " checkpoints and ", *keys, " signing keys; the file holds ", events_read,
                          ", ", file_.contents.checkpoints.size(), " and ",
                          file_.signing_keys.size()));
    }
  }

  bool Parse(const nlohmann::json& value, absl::string_view type,
             google::protobuf::Message* message) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    const auto status = google::protobuf::util::JsonStringToMessage(value.dump(), message, options);
    if (status.ok()) return true;
    Defect(
        std::nullopt, AuditExportFailure::kMalformedEvent,
        absl::StrCat("not a valid ", type, ": ", EscapeForTerminal(std::string(status.message()))));
    return false;
  }

  void Defect(std::optional<std::uint64_t> sequence, AuditExportFailure reason,
              std::string detail) {
    file_.defect = AuditExportDefect{line_number_, sequence, reason, std::move(detail)};
  }

  AuditExportFile file_;
  std::size_t line_number_ = 0;
  bool end_seen_ = false;
};

}  // namespace

absl::StatusOr<AuditExportFile> ParseAuditExport(std::istream& in) { return Reader().Read(in); }

absl::StatusOr<AuditExportFile> ReadAuditExportFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    const int error = errno;
    return absl::Status(absl::ErrnoToStatusCode(error),
                        absl::StrCat("reading ", path, ": ", strerror(error)));
  }
  absl::StatusOr<AuditExportFile> file = ParseAuditExport(in);
  if (!file.ok()) {
    return absl::Status(file.status().code(), absl::StrCat(path, ": ", file.status().message()));
  }
  return file;
}

}  // namespace credvault::cli
