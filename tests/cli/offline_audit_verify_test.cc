// `credvaultctl audit verify --file`: exports written by `credvaultctl audit export` from a
// fake AdminService that streams a real hash chain, signed by a real AuditSigner, the way
// credvaultd's ExportAuditLog does (stored checkpoints in the first message, events in
// chunks, the export's own signed checkpoint after the last event). The server is shut
// down before each verification: it must need none. Then the file is tampered with, one
// way at a time, and the verdict must name the first bad sequence and the reason.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "credvault/v1/admin_service.grpc.pb.h"
#include "crypto/audit_chain.h"
#include "crypto/audit_signer.h"
#include "crypto/key_buffer.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/cli_test_util.h"

namespace credvault::cli {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kOrg[] = "acme";
constexpr std::int64_t kStart = 1735689600000000;  // 2025-01-01T00:00:00Z

crypto::AuditSigner Signer(std::uint8_t first) {
  std::vector<std::uint8_t> seed(32);
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(first + i);
  return *crypto::AuditSigner::FromSeed(*crypto::KeyBuffer::CopyFrom(seed));
}

std::string Str(const crypto::AuditHash& hash) { return std::string(hash.begin(), hash.end()); }

crypto::AuditHash Hash(const std::string& bytes) {
  crypto::AuditHash hash{};
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

google::protobuf::Timestamp Micros(std::int64_t micros) {
  return TimeUtil::MicrosecondsToTimestamp(micros);
}

// An org's audit log as credvaultd keeps it: events appended with the real chain code,
// checkpoints stored (signed, or unsigned as a purge leaves them), a purged prefix.
class FakeAuditLog {
 public:
  explicit FakeAuditLog(const crypto::AuditSigner* signer) : signer_(signer) {}

  // The chain format (and appending role) of the events appended from here on; format 1
  // by default, as before the database computed the chain.
  void UseFormat(crypto::AuditChainFormat format, std::string appended_by) {
    format_ = format;
    appended_by_ = std::move(appended_by);
  }

  void Append(std::uint64_t count) {
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t seq = events_.size() + 1;
      if (seq == 1) running_ = crypto::AuditChainGenesis(kOrg, format_);
      crypto::AuditEventFields f{kOrg,
                                 seq,
                                 kStart + static_cast<std::int64_t>(seq) * 1000001,
                                 "spiffe://credvault.test/backend",
                                 seq % 3 == 0 ? "credential.decrypt" : "credential.put",
                                 "app/db@" + std::to_string(seq),
                                 "ok",
                                 "req-" + std::to_string(seq),
                                 seq % 3 == 0 ? "nightly \"sync\" job" : ""};
      f.appended_by = appended_by_;
      f.format = format_;
      const crypto::AuditHash hash = crypto::AuditChainStep(running_, f);
      v1::AuditEvent& e = events_.emplace_back();
      e.set_org_id(f.org_id);
      e.set_sequence(seq);
      *e.mutable_time() = Micros(f.time_unix_micros);
      e.set_principal(f.principal);
      e.set_action(f.action);
      e.set_target(f.target);
      e.set_result(f.result);
      e.set_request_id(f.request_id);
      e.set_details(f.details);
      e.set_prev_hash(Str(running_));
      e.set_hash(Str(hash));
      if (format_ == crypto::AuditChainFormat::kV2) {
        e.set_appended_by(f.appended_by);
        e.set_chain_format(static_cast<std::uint32_t>(f.format));
      }
      running_ = hash;
    }
  }

  // A checkpoint of the head, signed if there is a signer (a periodic one).
  void Checkpoint() {
    v1::AuditCheckpoint c = At(events_.size(), kStart + 900000000);
    c.set_kind(v1::AUDIT_CHECKPOINT_KIND_PERIODIC);
    checkpoints_.push_back(c);
  }

  // Retention: the events up to `seq` go, a purge checkpoint stays at `seq`, signed if
  // there is a signer and `sign` says so.
  void PurgeThrough(std::uint64_t seq, bool sign = true) {
    v1::AuditCheckpoint c;
    if (sign) {
      c = At(seq, kStart + 800000000);
    } else {
      c.set_org_id(kOrg);
      c.set_sequence(seq);
      c.set_chain_head_hash(events_[seq - 1].hash());
      *c.mutable_time() = Micros(kStart + 800000000);
    }
    c.set_kind(v1::AUDIT_CHECKPOINT_KIND_PURGE);
    checkpoints_.push_back(c);
    purged_through_ = seq;
  }

  // Writes the export as ExportAuditLog does, `chunk` events per message.
  void Export(grpc::ServerWriter<v1::ExportAuditLogResponse>* writer, std::size_t chunk) const {
    v1::ExportAuditLogResponse message;
    if (signer_ != nullptr) {
      v1::AuditSigningKey* key = message.add_signing_keys();
      key->set_key_id(signer_->key_id());
      key->set_public_key(std::string(signer_->public_key().begin(), signer_->public_key().end()));
    }
    // Every stored checkpoint, in order of sequence, in the first message.
    std::vector<v1::AuditCheckpoint> stored = checkpoints_;
    std::sort(stored.begin(), stored.end(),
              [](const auto& a, const auto& b) { return a.sequence() < b.sequence(); });
    for (const v1::AuditCheckpoint& c : stored) *message.add_checkpoints() = c;
    std::uint64_t last = 0;
    for (std::size_t i = purged_through_; i < events_.size(); ++i) {
      *message.add_events() = events_[i];
      last = events_[i].sequence();
      if (message.events_size() == static_cast<int>(chunk)) {
        writer->Write(message);
        message.Clear();
      }
    }
    const bool signed_at_last =
        std::any_of(checkpoints_.begin(), checkpoints_.end(),
                    [&](const auto& c) { return c.sequence() == last && !c.signature().empty(); });
    if (signer_ != nullptr && !signed_at_last) {
      v1::AuditCheckpoint c = At(last, kStart + 999000000);
      c.set_kind(v1::AUDIT_CHECKPOINT_KIND_EXPORT);
      *message.add_checkpoints() = c;
    }
    writer->Write(message);
  }

  const v1::AuditEvent& Event(std::uint64_t seq) const { return events_.at(seq - 1); }

 private:
  v1::AuditCheckpoint At(std::uint64_t seq, std::int64_t micros) const {
    v1::AuditCheckpoint c;
    c.set_org_id(kOrg);
    c.set_sequence(seq);
    const crypto::AuditHash head = Hash(events_[seq - 1].hash());
    c.set_chain_head_hash(Str(head));
    *c.mutable_time() = Micros(micros);
    if (signer_ != nullptr) {
      const crypto::AuditSignature signature = signer_->SignCheckpoint(kOrg, seq, head, micros);
      c.set_signature(std::string(signature.begin(), signature.end()));
      c.set_signing_key_id(signer_->key_id());
    }
    return c;
  }

  const crypto::AuditSigner* signer_;
  crypto::AuditChainFormat format_ = crypto::AuditChainFormat::kV1;
  std::string appended_by_;
  crypto::AuditHash running_{};
  std::vector<v1::AuditEvent> events_;
  std::vector<v1::AuditCheckpoint> checkpoints_;
  std::size_t purged_through_ = 0;
};

class ExportingAdminService final : public v1::AdminService::Service {
 public:
  explicit ExportingAdminService(const FakeAuditLog& log) : log_(log) {}
  grpc::Status ExportAuditLog(grpc::ServerContext*, const v1::ExportAuditLogRequest*,
                              grpc::ServerWriter<v1::ExportAuditLogResponse>* writer) override {
    log_.Export(writer, 4);
    return grpc::Status::OK;
  }

 private:
  const FakeAuditLog& log_;
};

// The parsed --json verdict.
struct Verdict {
  int exit_code = -1;
  nlohmann::json json;
  std::string err;
};

class OfflineAuditVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/credvaultctl_offline_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    mkdir(dir_.c_str(), 0700);
    key_file_ = Write("audit.pub", absl::BytesToHexString(std::string(signer_.public_key().begin(),
                                                                      signer_.public_key().end())) +
                                       "\n");
  }

  // Exports `log` through a real `credvaultctl audit export` and returns the file's lines.
  std::vector<std::string> ExportLines(const FakeAuditLog& log) {
    ExportingAdminService service(log);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    EXPECT_NE(server, nullptr);
    const std::string path = dir_ + "/export-" + std::to_string(++exports_) + ".jsonl";
    testutil::FakeEnvironment fake;
    testutil::Argv argv({"--addr", "127.0.0.1:" + std::to_string(port), "--plaintext", "audit",
                         "export", kOrg, "--output", path});
    EXPECT_EQ(RunCli(argv.argc(), argv.argv(), fake.env()), kExitOk) << fake.err.str();
    // No server from here on.
    server->Shutdown();
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    return path;
  }

  std::string WriteLines(const std::vector<std::string>& lines) {
    std::string content;
    for (const std::string& line : lines) content += line + "\n";
    return Write("tampered-" + std::to_string(++tampered_) + ".jsonl", content);
  }

  int Run(std::vector<std::string> args) {
    fake_ = std::make_unique<testutil::FakeEnvironment>();
    testutil::Argv argv(std::move(args));
    return RunCli(argv.argc(), argv.argv(), fake_->env());
  }

  Verdict Verify(const std::string& path, std::optional<std::string> key_file = std::nullopt) {
    Verdict verdict;
    verdict.exit_code = Run({"audit", "verify", "--file", path, "--public-key",
                             key_file.value_or(key_file_), "--json"});
    verdict.err = fake_->err.str();
    verdict.json = nlohmann::json::parse(fake_->out.str(), nullptr, false);
    return verdict;
  }

  Verdict VerifyLines(const std::vector<std::string>& lines) { return Verify(WriteLines(lines)); }

  static void ExpectBroken(const Verdict& v, std::uint64_t seq, const std::string& reason) {
    EXPECT_EQ(v.exit_code, kExitNegative) << v.err;
    ASSERT_TRUE(v.json.is_object()) << v.err;
    EXPECT_EQ(v.json["ok"], false);
    EXPECT_EQ(v.json["first_broken_sequence"], std::to_string(seq)) << v.json.dump();
    EXPECT_EQ(v.json["failure_reason"], "AUDIT_VERIFICATION_FAILURE_" + reason) << v.json.dump();
  }

  // The index of the line holding `kind` ("event", "checkpoint") at sequence `seq`.
  static std::size_t LineOf(const std::vector<std::string>& lines, const std::string& kind,
                            std::uint64_t seq) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const nlohmann::json record = nlohmann::json::parse(lines[i]);
      if (record.contains(kind) && record[kind]["sequence"] == std::to_string(seq)) return i;
    }
    ADD_FAILURE() << "no " << kind << " at " << seq;
    return 0;
  }

  // Applies `edit` to the message of line `index`.
  static void Edit(std::vector<std::string>& lines, std::size_t index,
                   const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json record = nlohmann::json::parse(lines[index]);
    edit(record.begin().value());
    lines[index] = record.dump();
  }

  // Ten events, a signed periodic checkpoint at 4, the export's own at 10.
  FakeAuditLog Log() const {
    FakeAuditLog log(&signer_);
    log.Append(4);
    log.Checkpoint();
    log.Append(6);
    return log;
  }

  const crypto::AuditSigner signer_ = Signer(0x42);
  const crypto::AuditSigner stranger_ = Signer(0x43);
  std::string dir_;
  std::string key_file_;
  int exports_ = 0;
  int tampered_ = 0;
  std::unique_ptr<testutil::FakeEnvironment> fake_;
};

TEST_F(OfflineAuditVerifyTest, IntactExportVerifiesWithoutAServer) {
  const FakeAuditLog log = Log();
  const std::vector<std::string> lines = ExportLines(log);
  const std::string path = WriteLines(lines);

  const Verdict v = Verify(path);
  ASSERT_EQ(v.exit_code, kExitOk) << v.err << v.json.dump();
  EXPECT_EQ(v.json["ok"], true);
  EXPECT_EQ(v.json["org_id"], kOrg);
  EXPECT_EQ(v.json["failure_reason"], "AUDIT_VERIFICATION_FAILURE_UNSPECIFIED");
  EXPECT_EQ(v.json["events_checked"], "10");
  EXPECT_EQ(v.json["start_sequence"], "1");
  EXPECT_EQ(v.json["end_sequence"], "10");
  EXPECT_EQ(v.json["signed_through_sequence"], "10");
  EXPECT_EQ(v.json["events_signed"], "10");
  EXPECT_EQ(v.json["signatures_verified"], "2");
  EXPECT_EQ(v.json["pinned_key_ids"][0], signer_.key_id());
  EXPECT_EQ(v.json["latest_checkpoint"]["sequence"], "10");
  EXPECT_EQ(v.json["latest_checkpoint"]["kind"], "AUDIT_CHECKPOINT_KIND_EXPORT");
  EXPECT_FALSE(v.json.contains("anchor_checkpoint"));

  // Human output, with the key in the other accepted forms.
  const std::string base64_key = Write(
      "audit.b64",
      absl::Base64Escape(std::string(signer_.public_key().begin(), signer_.public_key().end())));
  const std::string signing_key_line = Write("audit.json", lines[1]);
  for (const std::string& key : {base64_key, signing_key_line}) {
    EXPECT_EQ(Run({"audit", "verify", "--file", path, "--public-key", key}), kExitOk)
        << fake_->err.str();
    const std::string out = fake_->out.str();
    EXPECT_THAT(out, ContainsRegex("^ok: +true\n"));
    EXPECT_THAT(out, ContainsRegex("\norg_id: +acme\n"));
    EXPECT_THAT(out, ContainsRegex("\nanchor: +genesis\n"));
    EXPECT_THAT(out, ContainsRegex("\nevents_signed: +10\n"));
    EXPECT_THAT(out, ContainsRegex("\nlatest_checkpoint.kind: +EXPORT\n"));
    EXPECT_THAT(out, Not(HasSubstr("failure_reason")));
  }
}

// Stored checkpoints all come in the first message; in the file each one follows the event
// at its sequence even when that event comes in a later message.
TEST_F(OfflineAuditVerifyTest, ExportFileReadsInSequenceOrder) {
  FakeAuditLog log(&signer_);
  log.Append(6);
  log.Checkpoint();
  log.Append(5);
  const std::vector<std::string> lines = ExportLines(log);
  std::vector<std::string> order;
  for (const std::string& line : lines) {
    const nlohmann::json record = nlohmann::json::parse(line);
    const std::string kind = record.begin().key();
    if (kind == "event" || kind == "checkpoint") {
      order.push_back(kind.substr(0, 1) + record[kind]["sequence"].get<std::string>());
    }
  }
  EXPECT_THAT(order, ::testing::ElementsAre("e1", "e2", "e3", "e4", "e5", "e6", "c6", "e7", "e8",
                                            "e9", "e10", "e11", "c11"));
  EXPECT_EQ(Verify(WriteLines(lines)).exit_code, kExitOk);
}

TEST_F(OfflineAuditVerifyTest, EditedMiddleEvent) {
  std::vector<std::string> lines = ExportLines(Log());
  Edit(lines, LineOf(lines, "event", 6),
       [](nlohmann::json& e) { e["details"] = "nothing to see"; });
  const std::string path = WriteLines(lines);
  ExpectBroken(Verify(path), 6, "HASH_MISMATCH");
  EXPECT_EQ(Run({"audit", "verify", "--file", path, "--public-key", key_file_}), kExitNegative);
  EXPECT_THAT(fake_->out.str(), ContainsRegex("^ok: +false\n"));
  EXPECT_THAT(fake_->out.str(), ContainsRegex("\nfirst_broken_sequence: +6\n"));
  EXPECT_THAT(fake_->out.str(), ContainsRegex("\nfailure_reason: +HASH_MISMATCH\n"));
  EXPECT_THAT(fake_->out.str(), ContainsRegex("\nend_sequence: +5\n"));

  // The time is hashed too, to the microsecond.
  lines = ExportLines(Log());
  Edit(lines, LineOf(lines, "event", 7),
       [](nlohmann::json& e) { e["time"] = "2025-01-01T00:00:08.000008Z"; });
  ExpectBroken(VerifyLines(lines), 7, "HASH_MISMATCH");
}

TEST_F(OfflineAuditVerifyTest, DeletedEvent) {
  std::vector<std::string> lines = ExportLines(Log());
  lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(LineOf(lines, "event", 5)));
  const Verdict v = VerifyLines(lines);
  ExpectBroken(v, 5, "SEQUENCE_GAP");
  EXPECT_EQ(v.json["end_sequence"], "4");
}

TEST_F(OfflineAuditVerifyTest, InsertedEvent) {
  // A forged event 6 that links correctly to event 5, placed before the genuine 6.
  const FakeAuditLog log = Log();
  std::vector<std::string> lines = ExportLines(log);
  v1::AuditEvent forged = log.Event(6);
  forged.set_principal("spiffe://credvault.test/intruder");
  const crypto::AuditEventFields fields{
      forged.org_id(),    forged.sequence(),   TimeUtil::TimestampToMicroseconds(forged.time()),
      forged.principal(), forged.action(),     forged.target(),
      forged.result(),    forged.request_id(), forged.details()};
  const std::string hash = Str(crypto::AuditChainStep(Hash(forged.prev_hash()), fields));
  const std::size_t at = LineOf(lines, "event", 6);
  std::string line = lines[at];
  Edit(lines, at, [&](nlohmann::json& e) {
    e["principal"] = forged.principal();
    e["hash"] = absl::Base64Escape(hash);
  });
  lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at) + 1, line);
  ExpectBroken(VerifyLines(lines), 6, "PREV_HASH_MISMATCH");
}

TEST_F(OfflineAuditVerifyTest, ReorderedEvents) {
  std::vector<std::string> lines = ExportLines(Log());
  std::swap(lines[LineOf(lines, "event", 7)], lines[LineOf(lines, "event", 8)]);
  ExpectBroken(VerifyLines(lines), 7, "PREV_HASH_MISMATCH");
}

TEST_F(OfflineAuditVerifyTest, ChangedCheckpointHead) {
  std::vector<std::string> lines = ExportLines(Log());
  Edit(lines, LineOf(lines, "checkpoint", 4), [&](nlohmann::json& c) {
    c["chain_head_hash"] = nlohmann::json::parse(lines[LineOf(lines, "event", 3)])["event"]["hash"];
  });
  ExpectBroken(VerifyLines(lines), 4, "CHECKPOINT_SIGNATURE_INVALID");
}

TEST_F(OfflineAuditVerifyTest, CheckpointSignedByAnotherKey) {
  // The export's checkpoint at 10, signed over the right fields but by another key.
  const FakeAuditLog log = Log();
  std::vector<std::string> lines = ExportLines(log);
  Edit(lines, LineOf(lines, "checkpoint", 10), [&](nlohmann::json& c) {
    google::protobuf::Timestamp time;
    ASSERT_TRUE(TimeUtil::FromString(c["time"].get<std::string>(), &time));
    const crypto::AuditSignature signature = stranger_.SignCheckpoint(
        kOrg, 10, Hash(log.Event(10).hash()), TimeUtil::TimestampToMicroseconds(time));
    c["signature"] = absl::Base64Escape(std::string(signature.begin(), signature.end()));
    c["signing_key_id"] = stranger_.key_id();
  });
  const Verdict v = VerifyLines(lines);
  ExpectBroken(v, 10, "CHECKPOINT_SIGNATURE_INVALID");
  EXPECT_THAT(v.json["failure_detail"].get<std::string>(), HasSubstr("not a pinned public key"));
  EXPECT_EQ(v.json["signed_through_sequence"], "4");
}

TEST_F(OfflineAuditVerifyTest, WrongPublicKey) {
  const std::string path = WriteLines(ExportLines(Log()));
  const std::string other =
      Write("other.pub", absl::BytesToHexString(std::string(stranger_.public_key().begin(),
                                                            stranger_.public_key().end())));
  ExpectBroken(Verify(path, other), 4, "CHECKPOINT_SIGNATURE_INVALID");
}

TEST_F(OfflineAuditVerifyTest, TruncatedFile) {
  const std::vector<std::string> lines = ExportLines(Log());
  std::string content;
  for (const std::string& line : lines) content += line + "\n";

  // Cut in the middle of event 8's line: events 1-7 are read, the rest is missing.
  const std::size_t line8 = LineOf(lines, "event", 8);
  const std::size_t cut = content.find(lines[line8]) + lines[line8].size() / 2;
  Verdict v = Verify(Write("cut.jsonl", content.substr(0, cut)));
  ExpectBroken(v, 8, "SEQUENCE_GAP");
  EXPECT_THAT(v.json["failure_detail"].get<std::string>(), HasSubstr("truncated"));
  EXPECT_EQ(v.json["end_sequence"], "7");
  EXPECT_EQ(v.json["signed_through_sequence"], "4");

  // Cut at a line boundary, after the last event: the signed checkpoint and end are gone.
  std::vector<std::string> head(
      lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(LineOf(lines, "event", 10) + 1));
  v = VerifyLines(head);
  ExpectBroken(v, 11, "SEQUENCE_GAP");
  EXPECT_THAT(v.json["failure_detail"].get<std::string>(), HasSubstr("end record"));
  EXPECT_EQ(v.json["events_checked"], "10");
  EXPECT_EQ(v.json["signed_through_sequence"], "4");
}

TEST_F(OfflineAuditVerifyTest, MalformedLine) {
  std::vector<std::string> lines = ExportLines(Log());
  const std::size_t at = LineOf(lines, "event", 5);
  lines[at] = "{\"event\": {\"sequence\": \"5\", \"org_id\": ";
  Verdict v = VerifyLines(lines);
  ExpectBroken(v, 5, "MALFORMED_EVENT");
  EXPECT_THAT(v.json["failure_detail"].get<std::string>(),
              HasSubstr("line " + std::to_string(at + 1) + ": not valid JSON"));

  lines = ExportLines(Log());
  Edit(lines, LineOf(lines, "event", 9), [](nlohmann::json& e) { e["hash"] = "AAAA"; });
  ExpectBroken(VerifyLines(lines), 9, "MALFORMED_EVENT");

  lines = ExportLines(Log());
  Edit(lines, LineOf(lines, "event", 3), [](nlohmann::json& e) { e["sequence"] = "three"; });
  ExpectBroken(VerifyLines(lines), 3, "MALFORMED_EVENT");

  lines = ExportLines(Log());
  Edit(lines, LineOf(lines, "event", 2),
       [](nlohmann::json& e) { e["time"] = "2025-01-01T00:00:02.000002001Z"; });
  ExpectBroken(VerifyLines(lines), 2, "MALFORMED_EVENT");
}

TEST_F(OfflineAuditVerifyTest, ExportWithoutSignedCheckpoint) {
  // A server without an audit signing key exports no signature at all.
  FakeAuditLog log(nullptr);
  log.Append(5);
  log.Checkpoint();
  const Verdict v = VerifyLines(ExportLines(log));
  ExpectBroken(v, 1, "UNSIGNED");
  EXPECT_EQ(v.json["events_checked"], "5");
  EXPECT_EQ(v.json["events_signed"], "0");
  EXPECT_THAT(v.json["failure_detail"].get<std::string>(), HasSubstr("hash-linked but unsigned"));
}

TEST_F(OfflineAuditVerifyTest, PurgedChainVerifiesFromTheSignedPurgeCheckpoint) {
  FakeAuditLog log(&signer_);
  log.Append(6);
  log.Checkpoint();
  log.Append(3);
  log.PurgeThrough(3);
  std::vector<std::string> lines = ExportLines(log);
  Verdict v = VerifyLines(lines);
  ASSERT_EQ(v.exit_code, kExitOk) << v.json.dump();
  EXPECT_EQ(v.json["start_sequence"], "4");
  EXPECT_EQ(v.json["events_signed"], "6");
  EXPECT_EQ(v.json["anchor_checkpoint"]["sequence"], "3");
  EXPECT_EQ(v.json["anchor_checkpoint"]["kind"], "AUDIT_CHECKPOINT_KIND_PURGE");
  EXPECT_EQ(v.json["signatures_verified"], "3");

  // The purge checkpoint's head edited: its signature no longer verifies.
  Edit(lines, LineOf(lines, "checkpoint", 3), [&](nlohmann::json& c) {
    c["chain_head_hash"] = nlohmann::json::parse(lines[LineOf(lines, "event", 5)])["event"]["hash"];
  });
  ExpectBroken(VerifyLines(lines), 3, "CHECKPOINT_SIGNATURE_INVALID");
}

// Sets the end record's counts to what the file holds, as someone who removes lines would.
void FixEndRecord(std::vector<std::string>& lines) {
  std::size_t events = 0;
  std::size_t checkpoints = 0;
  for (const std::string& line : lines) {
    const nlohmann::json record = nlohmann::json::parse(line);
    events += record.contains("event") ? 1 : 0;
    checkpoints += record.contains("checkpoint") ? 1 : 0;
  }
  nlohmann::json end = nlohmann::json::parse(lines.back());
  ASSERT_TRUE(end.contains("end"));
  end["end"]["events"] = events;
  end["end"]["checkpoints"] = checkpoints;
  lines.back() = end.dump();
}

TEST_F(OfflineAuditVerifyTest, DeletedOldestEventsAreRefused) {
  // Events 1-3 removed, the end record made to agree: every remaining event links and the
  // signed checkpoints at 4 and 10 still match, but nothing anchors event 4.
  std::vector<std::string> lines = ExportLines(Log());
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(LineOf(lines, "event", seq)));
  }
  FixEndRecord(lines);
  const std::string path = WriteLines(lines);
  const Verdict v = Verify(path);
  ExpectBroken(v, 4, "UNANCHORED");
  EXPECT_THAT(v.json["failure_detail"].get<std::string>(), HasSubstr("may have been deleted"));
  EXPECT_EQ(Run({"audit", "verify", "--file", path, "--public-key", key_file_}), kExitNegative);
  EXPECT_THAT(fake_->out.str(), ContainsRegex("\nfailure_reason: +UNANCHORED\n"));

  // And with an unsigned checkpoint forged at 3, holding the hash event 4 links to.
  const nlohmann::json event4 = nlohmann::json::parse(lines[LineOf(lines, "event", 4)])["event"];
  nlohmann::json checkpoint = {{"org_id", kOrg},
                               {"sequence", "3"},
                               {"chain_head_hash", event4["prev_hash"]},
                               {"time", "2025-01-01T00:10:00Z"},
                               {"kind", "AUDIT_CHECKPOINT_KIND_PURGE"}};
  lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(LineOf(lines, "event", 4)),
               nlohmann::json{{"checkpoint", checkpoint}}.dump());
  FixEndRecord(lines);
  const Verdict forged_verdict = VerifyLines(lines);
  ExpectBroken(forged_verdict, 4, "UNANCHORED");
  EXPECT_THAT(forged_verdict.json["failure_detail"].get<std::string>(), HasSubstr("unsigned"));
}

TEST_F(OfflineAuditVerifyTest, UnsignedPurgeCheckpointIsRefused) {
  FakeAuditLog log(&signer_);
  log.Append(6);
  log.Checkpoint();
  log.Append(3);
  log.PurgeThrough(3, /*sign=*/false);
  std::vector<std::string> lines = ExportLines(log);
  ExpectBroken(VerifyLines(lines), 4, "UNANCHORED");

  // Dropped altogether: the same.
  lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(LineOf(lines, "checkpoint", 3)));
  FixEndRecord(lines);
  ExpectBroken(VerifyLines(lines), 4, "UNANCHORED");
}

TEST_F(OfflineAuditVerifyTest, UpgradedChainWithFormat2EventsVerifies) {
  FakeAuditLog log(&signer_);
  log.Append(4);
  log.Checkpoint();
  log.UseFormat(crypto::AuditChainFormat::kV2, "credvault_writer");
  log.Append(4);
  std::vector<std::string> lines = ExportLines(log);
  const nlohmann::json event6 = nlohmann::json::parse(lines[LineOf(lines, "event", 6)])["event"];
  EXPECT_EQ(event6["appended_by"], "credvault_writer");
  EXPECT_EQ(event6["chain_format"], 2);
  const Verdict v = VerifyLines(lines);
  ASSERT_EQ(v.exit_code, kExitOk) << v.json.dump();
  EXPECT_EQ(v.json["events_checked"], "8");
  EXPECT_EQ(v.json["events_signed"], "8");

  std::vector<std::string> other_role = lines;
  Edit(other_role, LineOf(other_role, "event", 6),
       [](nlohmann::json& e) { e["appended_by"] = "credvault_admin"; });
  ExpectBroken(VerifyLines(other_role), 6, "HASH_MISMATCH");

  std::vector<std::string> downgraded = lines;
  Edit(downgraded, LineOf(downgraded, "event", 7), [](nlohmann::json& e) {
    e.erase("chain_format");
    e.erase("appended_by");
  });
  ExpectBroken(VerifyLines(downgraded), 7, "MALFORMED_EVENT");

  std::vector<std::string> unknown = lines;
  Edit(unknown, LineOf(unknown, "event", 5), [](nlohmann::json& e) { e["chain_format"] = 7; });
  const Verdict u = VerifyLines(unknown);
  ExpectBroken(u, 5, "MALFORMED_EVENT");
  EXPECT_THAT(u.json["failure_detail"].get<std::string>(), HasSubstr("chain format 7"));

  // An export written before the fields existed (its events carry neither) is read as
  // format 1.
  std::vector<std::string> old_export = ExportLines(Log());
  for (std::uint64_t seq = 1; seq <= 10; ++seq) {
    Edit(old_export, LineOf(old_export, "event", seq), [](nlohmann::json& e) {
      e.erase("chain_format");
      e.erase("appended_by");
    });
  }
  EXPECT_FALSE(nlohmann::json::parse(old_export[LineOf(old_export, "event", 1)])["event"].contains(
      "chain_format"));
  EXPECT_EQ(VerifyLines(old_export).exit_code, kExitOk);
}

TEST_F(OfflineAuditVerifyTest, FilesThatAreNotExportsOrKeysExitThree) {
  const std::string good = WriteLines(ExportLines(Log()));
  EXPECT_EQ(Run({"audit", "verify", "--file", Write("empty.jsonl", ""), "--public-key", key_file_}),
            kExitLocalError);
  EXPECT_THAT(fake_->err.str(), HasSubstr("not a credvault audit export"));
  EXPECT_EQ(Run({"audit", "verify", "--file",
                 Write("v2.jsonl", "{\"format\":\"credvault.audit_export.v2\",\"org_id\":\"a\"}\n"),
                 "--public-key", key_file_}),
            kExitLocalError);
  EXPECT_THAT(fake_->err.str(), HasSubstr("unsupported export format"));
  EXPECT_EQ(Run({"audit", "verify", "--file", dir_ + "/missing.jsonl", "--public-key", key_file_}),
            kExitLocalError);
  EXPECT_EQ(Run({"audit", "verify", "--file", good, "--public-key", dir_ + "/missing.pub"}),
            kExitLocalError);
  // The server's private seed file given by mistake: refused, and not shown.
  const std::string seed = Write("audit-signing.key", "SEEDMARKERSEEDMARKERSEEDMARKER12");
  EXPECT_EQ(Run({"audit", "verify", "--file", good, "--public-key", seed}), kExitLocalError);
  EXPECT_THAT(fake_->err.str(), HasSubstr("private seed"));
  EXPECT_THAT(fake_->err.str(), Not(HasSubstr("SEEDMARKER")));
  EXPECT_EQ(Run({"audit", "verify", "--file", good}), kExitUsage);
}

}  // namespace
}  // namespace credvault::cli
