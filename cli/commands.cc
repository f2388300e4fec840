#include "cli/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cli/audit_export_file.h"
#include "cli/connection.h"
#include "cli/exit_codes.h"
#include "cli/offline_audit_verify.h"
#include "cli/output.h"
#include "cli/secret_input.h"
#include "credvault/v1/admin_service.grpc.pb.h"
#include "credvault/v1/credential_access_service.grpc.pb.h"
#include "credvault/v1/credential_service.grpc.pb.h"
#include "crypto/secret_bytes.h"
#include "nlohmann/json.hpp"

namespace credvault::cli {
namespace {

constexpr char kErrorReasonKey[] = "credvault-error-reason";
constexpr std::size_t kExportFlushBytes = 1 << 20;

absl::Status ErrnoError(absl::string_view what, int error) {
  return absl::Status(absl::ErrnoToStatusCode(error), absl::StrCat(what, ": ", strerror(error)));
}

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view what) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(what, errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return absl::OkStatus();
}

// A file that decrypt or audit export creates: new (O_EXCL, so nothing is clobbered and a
// planted symlink is not followed) and 0600 from the first byte. Created before the RPC, so
// that a secret is never disclosed (and audited) only to find it cannot be stored, and
// removed again unless Commit() succeeds, so a failure leaves no partial file behind.
class OutputFile {
 public:
  static absl::StatusOr<OutputFile> Create(const std::string& path) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoError(absl::StrCat("creating ", path), errno);
    // The mode given to open() is reduced by the umask; 0600 only ever loses bits, but
    // fchmod states the intent whatever the umask.
    fchmod(fd, 0600);
    return OutputFile(path, fd);
  }

  OutputFile(OutputFile&& other) noexcept
      : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}
  OutputFile& operator=(OutputFile&&) = delete;
  ~OutputFile() {
    if (fd_ < 0) return;
    close(fd_);
    unlink(path_.c_str());
  }

  const std::string& path() const { return path_; }

  absl::Status Write(absl::string_view data) {
    return WriteAll(fd_, data, absl::StrCat("writing ", path_));
  }

  // Durable and closed, or an error (and the file is removed by the destructor).
  absl::Status Commit() {
    if (fsync(fd_) != 0) return ErrnoError(absl::StrCat("syncing ", path_), errno);
    const int fd = std::exchange(fd_, -1);
    if (close(fd) != 0) {
      const int error = errno;
      unlink(path_.c_str());
      return ErrnoError(absl::StrCat("closing ", path_), error);
    }
    return absl::OkStatus();
  }

 private:
  OutputFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  int fd_;
};

std::string ErrorReason(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find(kErrorReasonKey);
  if (it == trailers.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// Codes after which a mutation may or may not have been applied (or was not, and is safe
// to repeat): the moment to tell the user which idempotency key to repeat it with.
bool OutcomeMayBeUnknown(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::UNKNOWN;
}

class Runner {
 public:
  Runner(const Invocation& invocation, const Environment& env)
      : options_(invocation.connection),
        json_(invocation.json),
        verbose_(invocation.verbose),
        env_(env) {}

  int Run(PutCommand& c) {
    absl::StatusOr<Connection> connection = Connect();
    if (!connection.ok()) return LocalFailure(connection.status());
    absl::StatusOr<SecretInput> secret =
        c.secret_file.empty() ? ReadSecretFromFd(env_.stdin_fd) : ReadSecretFromFile(c.secret_file);
    if (!secret.ok()) return LocalFailure(secret.status());
    // The request holds the only copy from here on; wipe it on every path out.
    secret->MoveInto(c.request.mutable_secret());
    absl::Cleanup wipe = [&c] { crypto::WipeString(c.request.mutable_secret()); };

    auto stub = v1::CredentialService::NewStub(connection->channel());
    grpc::ClientContext context;
    connection->Prepare(&context);
    v1::PutCredentialResponse response;
    const grpc::Status status = stub->PutCredential(&context, c.request, &response);
    std::move(wipe).Invoke();
    if (!status.ok()) return RpcFailure(status, context, c.request.idempotency_key());
    return Print(response, [&] { return FormatPutResponse(response); });
  }

  int Run(DeleteCommand& c) {
    absl::StatusOr<Connection> connection = Connect();
    if (!connection.ok()) return LocalFailure(connection.status());
    auto stub = v1::CredentialService::NewStub(connection->channel());
    grpc::ClientContext context;
    connection->Prepare(&context);
    v1::DeleteCredentialResponse response;
    const grpc::Status status = stub->DeleteCredential(&context, c.request, &response);
    if (!status.ok()) return RpcFailure(status, context, c.request.idempotency_key());
    return Print(response, [&] { return FormatDeleteResponse(response); });
  }

  int Run(DescribeCommand& c) {
    absl::StatusOr<Connection> connection = Connect();
    if (!connection.ok()) return LocalFailure(connection.status());
    auto stub = v1::CredentialService::NewStub(connection->channel());
    grpc::ClientContext context;
    connection->Prepare(&context);
    v1::DescribeCredentialResponse response;
    const grpc::Status status = stub->DescribeCredential(&context, c.request, &response);
    if (!status.ok()) return RpcFailure(status, context);
    return Print(response, [&] { return FormatCredentialMetadata(response.credential()); });
  }

  int Run(ListCommand& c) {
    absl::StatusOr<Connection> connection = Connect();
    if (!connection.ok()) return LocalFailure(connection.status());
    auto stub = v1::CredentialService::NewStub(connection->channel());
    v1::ListCredentialsResponse merged;
    const int code = Paged(
        *connection, c.request, c.all, &merged,
        [&](grpc::ClientContext* context, const v1::ListCredentialsRequest& request,
            v1::ListCredentialsResponse* page) {
          return stub->ListCredentials(context, request, page);
        },
        [](v1::ListCredentialsResponse* r) { return r->mutable_credentials(); });
    if (code != kExitOk) return code;
    return Print(merged, [&] { return FormatCredentialList(merged); });
  }

  int Run(CompareCommand& c) {
    absl::StatusOr<Connection> connection = Connect();
    if (!connection.ok()) return LocalFailure(connection.status());
    absl::StatusOr<SecretInput> candidate = c.candidate_file.empty()
                                                ? ReadSecretFromFd(env_.stdin_fd)
                                                : ReadSecretFromFile(c.candidate_file);
    if (!candidate.ok()) return LocalFailure(candidate.status());
    candidate->MoveInto(c.request.mutable_candidate());
    absl::Cleanup wipe = [&c] { crypto::WipeString(c.request.mutable_candidate()); };

    auto stub = v1::CredentialService::NewStub(connection->channel());
    grpc::ClientContext context;
    connection->Prepare(&context);
    v1::CompareCredentialResponse response;
    const grpc::Status status = stub->CompareCredential(&context, c.request, &response);
    std::move(wipe).Invoke();
    if (!status.ok()) return RpcFailure(status, context);
    const int printed = Print(response, [&] { return FormatCompareResponse(response); });
    if (printed != kExitOk) return printed;
    return response.match() ? kExitOk : kExitNegative;
  }

  int Run(DecryptCommand& c) {
    absl::StatusOr<Connection> connection = Connect();
    if (!connection.ok()) return LocalFailure(connection.status());
    std::optional<OutputFile> file;
    if (!c.output_file.empty()) {
      absl::StatusOr<OutputFile> created = OutputFile::Create(c.output_file);
      if (!created.ok()) return LocalFailure(created.status());
      file.emplace(*std::move(created));
    }
    auto stub = v1::CredentialAccessService::NewStub(connection->channel());
    grpc::ClientContext context;
    connection->Prepare(&context);
    v1::DecryptCredentialResponse response;
    absl::Cleanup wipe = [&response] { crypto::WipeString(response.mutable_secret()); };
    const grpc::Status status = stub->DecryptCredential(&context, c.request, &response);
    if (!status.ok()) return RpcFailure(status, context);

    absl::Status written;
    if (file.has_value()) {
      written = file->Write(response.secret());
      if (written.ok()) written = file->Commit();
    } else {
      written = WriteAll(env_.stdout_fd, response.secret(), "writing to stdout");
    }
    std::move(wipe).Invoke();
    if (!written.ok()) return LocalFailure(written);
    if (verbose_) return PrintDecryptMetadata(response);
    return kExitOk;
  }

  int Run(OrgCreateCommand& c) {
    return Unary<v1::AdminService>(
        c.request, &v1::AdminService::Stub::CreateOrg, c.request.idempotency_key(),
        [](const v1::CreateOrgResponse& r) {
          return absl::StrCat(FormatOrgInfo(r.org()),
                              "\nidempotent_replay: ", r.idempotent_replay() ? "true" : "false",
                              "\n");
        });
  }

  int Run(OrgDescribeCommand& c) {
    return Unary<v1::AdminService>(
        c.request, &v1::AdminService::Stub::DescribeOrg, "",
        [](const v1::DescribeOrgResponse& r) { return FormatOrgInfo(r.org()); });
  }

  int Run(OrgListCommand& c) {
    absl::StatusOr<Connection> connection = Connect();
    if (!connection.ok()) return LocalFailure(connection.status());
    auto stub = v1::AdminService::NewStub(connection->channel());
    v1::ListOrgsResponse merged;
    const int code = Paged(
        *connection, c.request, c.all, &merged,
        [&](grpc::ClientContext* context, const v1::ListOrgsRequest& request,
            v1::ListOrgsResponse* page) { return stub->ListOrgs(context, request, page); },
        [](v1::ListOrgsResponse* r) { return r->mutable_orgs(); });
    if (code != kExitOk) return code;
    return Print(merged, [&] { return FormatOrgList(merged); });
  }

  int Run(OrgRotateCommand& c) {
    return Unary<v1::AdminService>(c.request, &v1::AdminService::Stub::RotateOrgKey,
                                   c.request.idempotency_key(), FormatRotateOrgKeyResponse);
  }

  int Run(OrgDestroyCommand& c) {
    // DestroyOrg is idempotent by definition (already_destroyed), so it needs no key.
    return Unary<v1::AdminService>(
        c.request, &v1::AdminService::Stub::DestroyOrg, "", [](const v1::DestroyOrgResponse& r) {
          return absl::StrCat(FormatErasureReceipt(r.receipt()),
                              "already_destroyed: ", r.already_destroyed() ? "true" : "false",
                              "\n");
        });
  }

  int Run(OrgDestroyKeyCommand& c) {
    // Idempotent by definition (already_destroyed), so it needs no key.
    return Unary<v1::AdminService>(
        c.request, &v1::AdminService::Stub::DestroyOrgKeyVersion, "",
        [](const v1::DestroyOrgKeyVersionResponse& r) {
          return absl::StrCat(FormatOrgInfo(r.org()),
                              "already_destroyed: ", r.already_destroyed() ? "true" : "false",
                              "\n");
        });
  }

  int Run(RootRotateCommand& c) {
    return Unary<v1::AdminService>(c.request, &v1::AdminService::Stub::RotateRootKey,
                                   c.request.idempotency_key(), FormatRotateRootKeyResponse);
  }

  int Run(ResealGetCommand& c) {
    return Unary<v1::AdminService>(
        c.request, &v1::AdminService::Stub::GetResealJob, "",
        [](const v1::GetResealJobResponse& r) { return FormatResealJob(r.job()); });
  }

  int Run(ResealListCommand& c) {
    absl::StatusOr<Connection> connection = Connect();
    if (!connection.ok()) return LocalFailure(connection.status());
    auto stub = v1::AdminService::NewStub(connection->channel());
    v1::ListResealJobsResponse merged;
    const int code = Paged(
        *connection, c.request, c.all, &merged,
        [&](grpc::ClientContext* context, const v1::ListResealJobsRequest& request,
            v1::ListResealJobsResponse* page) {
          return stub->ListResealJobs(context, request, page);
        },
        [](v1::ListResealJobsResponse* r) { return r->mutable_jobs(); });
    if (code != kExitOk) return code;
    return Print(merged, [&] { return FormatResealJobList(merged); });
  }

  int Run(AuditListCommand& c) {
    absl::StatusOr<Connection> connection = Connect();
    if (!connection.ok()) return LocalFailure(connection.status());
    auto stub = v1::AdminService::NewStub(connection->channel());
    v1::ListAuditEventsResponse merged;
    const int code = Paged(
        *connection, c.request, c.all, &merged,
        [&](grpc::ClientContext* context, const v1::ListAuditEventsRequest& request,
            v1::ListAuditEventsResponse* page) {
          return stub->ListAuditEvents(context, request, page);
        },
        [](v1::ListAuditEventsResponse* r) { return r->mutable_events(); });
    if (code != kExitOk) return code;
    return Print(merged, [&] { return FormatAuditEventList(merged); });
  }

  int Run(AuditVerifyCommand& c) {
    bool chain_ok = false;
    const int code = Unary<v1::AdminService>(
        c.request, &v1::AdminService::Stub::VerifyAuditLog, "", FormatVerifyAuditLogResponse,
        [&chain_ok](const v1::VerifyAuditLogResponse& r) { chain_ok = r.ok(); });
    if (code != kExitOk) return code;
    return chain_ok ? kExitOk : kExitNegative;
  }

  int Run(AuditExportCommand& c);

  // Offline: reads two kinds of local file and nothing else; no channel is opened.
  int Run(AuditVerifyExportCommand& c) {
    absl::StatusOr<OfflineAuditVerification> verification =
        VerifyAuditExportOffline(c.export_file, c.public_key_files);
    if (!verification.ok()) return LocalFailure(verification.status());
    if (json_) {
      absl::StatusOr<std::string> json = OfflineAuditVerificationJson(*verification);
      if (!json.ok()) return LocalFailure(json.status());
      *env_.out << *json << "\n";
    } else {
      *env_.out << FormatOfflineAuditVerification(*verification);
    }
    return verification->result.ok ? kExitOk : kExitNegative;
  }

 private:
  absl::StatusOr<Connection> Connect() {
    SecretInput token;
    if (!options_.token_file.empty()) {
      absl::StatusOr<SecretInput> read = ReadTokenFile(options_.token_file);
      if (!read.ok()) return read.status();
      token = *std::move(read);
    } else if (std::optional<std::string> value = env_.get_env("CREDVAULT_TOKEN");
               value.has_value() && !value->empty()) {
      absl::StatusOr<SecretInput> checked = CheckToken(*value);
      crypto::WipeString(&*value);
      if (!checked.ok()) {
        return absl::Status(checked.status().code(),
                            absl::StrCat("CREDVAULT_TOKEN: ", checked.status().message()));
      }
      token = *std::move(checked);
    }
    return Connection::Open(options_, std::move(token));
  }

  int LocalFailure(const absl::Status& status) {
    *env_.err << "credvaultctl: " << status.message() << "\n";
    return kExitLocalError;
  }

  int RpcFailure(const grpc::Status& status, const grpc::ClientContext& context,
                 absl::string_view idempotency_key = "") {
    *env_.err << FormatRpcError(status, ErrorReason(context)) << "\n";
    if (!idempotency_key.empty() && OutcomeMayBeUnknown(status.error_code())) {
      *env_.err << "credvaultctl: to retry without applying the change twice, repeat the "
                   "command with the same input and --idempotency-key "
                << idempotency_key << "\n";
    }
    return ExitCodeForGrpcStatus(status.error_code());
  }

  template <typename Human>
  int Print(const google::protobuf::Message& message, Human human) {
    if (!json_) {
      *env_.out << human();
      return kExitOk;
    }
    absl::StatusOr<std::string> json = ToJson(message);
    if (!json.ok()) return LocalFailure(json.status());
    *env_.out << *json << "\n";
    return kExitOk;
  }

  // One unary AdminService call, printed with `human` unless --json. `inspect` sees the
  // response either way.
  template <typename Service, typename Request, typename Response, typename Human,
            typename Inspect = void (*)(const Response&)>
  int Unary(
      const Request& request,
      grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
      const std::string& idempotency_key, Human human, Inspect inspect = [](const Response&) {}) {
    absl::StatusOr<Connection> connection = Connect();
    if (!connection.ok()) return LocalFailure(connection.status());
    auto stub = Service::NewStub(connection->channel());
    grpc::ClientContext context;
    connection->Prepare(&context);
    Response response;
    const grpc::Status status = ((*stub).*method)(&context, request, &response);
    if (!status.ok()) return RpcFailure(status, context, idempotency_key);
    inspect(response);
    return Print(response, [&] { return human(response); });
  }

  // The first page, and with `all` every following one, merged into *merged (whose
  // next_page_token is then that of the last page fetched).
  template <typename Request, typename Response, typename Rpc, typename Items>
  int Paged(const Connection& connection, Request request, bool all, Response* merged, Rpc rpc,
            Items items) {
    for (;;) {
      grpc::ClientContext context;
      connection.Prepare(&context);
      Response page;
      const grpc::Status status = rpc(&context, request, &page);
      if (!status.ok()) return RpcFailure(status, context);
      for (auto& item : *items(&page)) *items(merged)->Add() = std::move(item);
      merged->set_next_page_token(page.next_page_token());
      if (!all || page.next_page_token().empty()) return kExitOk;
      // A server that hands back the token it was given would keep us here forever.
      if (page.next_page_token() == request.page_token()) {
        *env_.err << "credvaultctl: the server returned the same page token again; stopping\n";
        return ExitCodeForGrpcStatus(grpc::StatusCode::INTERNAL);
      }
      request.set_page_token(page.next_page_token());
    }
  }

  int PrintDecryptMetadata(const v1::DecryptCredentialResponse& response) {
    // Built from the metadata alone: the response itself must never be printed, since it
    // carries the secret.
    if (json_) {
      absl::StatusOr<std::string> metadata = ToJson(response.credential());
      if (!metadata.ok()) return LocalFailure(metadata.status());
      nlohmann::json document = {
          {"credential", nlohmann::json::parse(*metadata)},
          {"audit_sequence", absl::StrCat(response.audit_sequence())},
      };
      *env_.err << document.dump() << "\n";
    } else {
      *env_.err << FormatCredentialMetadata(response.credential())
                << "audit_sequence: " << response.audit_sequence() << "\n";
    }
    return kExitOk;
  }

  const ConnectionOptions& options_;
  const bool json_;
  const bool verbose_;
  const Environment& env_;
};

// Appends one JSON line {"<kind>": <message as proto JSON>}.
absl::Status AppendRecord(absl::string_view kind, const google::protobuf::Message& message,
                          std::string* buffer) {
  absl::StatusOr<std::string> json = ToJson(message);
  if (!json.ok()) return json.status();
  absl::StrAppend(buffer, "{\"", kind, "\":", *json, "}\n");
  return absl::OkStatus();
}

int Runner::Run(AuditExportCommand& c) {
  absl::StatusOr<Connection> connection = Connect();
  if (!connection.ok()) return LocalFailure(connection.status());
  absl::StatusOr<OutputFile> file = OutputFile::Create(c.output_file);
  if (!file.ok()) return LocalFailure(file.status());

  std::string buffer =
      nlohmann::json{{"format", kAuditExportFormat}, {"org_id", c.request.org_id()}}.dump() + "\n";
  std::uint64_t events = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t signing_keys = 0;
  absl::Status local;

  auto stub = v1::AdminService::NewStub(connection->channel());
  grpc::ClientContext context;
  connection->Prepare(&context);
  std::unique_ptr<grpc::ClientReader<v1::ExportAuditLogResponse>> reader =
      stub->ExportAuditLog(&context, c.request);
  v1::ExportAuditLogResponse message;
  std::vector<v1::AuditCheckpoint> pending;
  while (local.ok() && reader->Read(&message)) {
    for (const v1::AuditSigningKey& key : message.signing_keys()) {
      local.Update(AppendRecord("signing_key", key, &buffer));
      ++signing_keys;
    }
    // Each checkpoint goes right after the event at its sequence (or before the first
    // event, for the checkpoint the range continues from), so the file reads in order. The
    // first message brings every stored checkpoint, including those at events of later
    // messages: they wait in `pending` for their event.
    pending.insert(pending.end(), message.checkpoints().begin(), message.checkpoints().end());
    std::stable_sort(pending.begin(), pending.end(),
                     [](const auto& a, const auto& b) { return a.sequence() < b.sequence(); });
    std::size_t next_checkpoint = 0;
    const auto emit_checkpoints_before = [&](std::uint64_t sequence) {
      while (next_checkpoint < pending.size() && pending[next_checkpoint].sequence() < sequence) {
        local.Update(AppendRecord("checkpoint", pending[next_checkpoint], &buffer));
        ++next_checkpoint;
        ++checkpoints;
      }
    };
    for (const v1::AuditEvent& event : message.events()) {
      emit_checkpoints_before(event.sequence());
      local.Update(AppendRecord("event", event, &buffer));
      ++events;
    }
    if (!message.events().empty()) {
      const std::uint64_t last = message.events(message.events_size() - 1).sequence();
      while (next_checkpoint < pending.size() && pending[next_checkpoint].sequence() <= last) {
        local.Update(AppendRecord("checkpoint", pending[next_checkpoint], &buffer));
        ++next_checkpoint;
        ++checkpoints;
      }
    }
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(next_checkpoint));
    if (local.ok() && buffer.size() >= kExportFlushBytes) {
      local.Update(file->Write(buffer));
      buffer.clear();
    }
  }
  // Checkpoints beyond the last event (a head past an --end-seq range, or of an empty one).
  for (const v1::AuditCheckpoint& checkpoint : pending) {
    if (!local.ok()) break;
    local.Update(AppendRecord("checkpoint", checkpoint, &buffer));
    ++checkpoints;
  }
  if (!local.ok()) {
    // Stop the stream; its status no longer matters.
    context.TryCancel();
    static_cast<void>(reader->Finish());
    return LocalFailure(local);
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return RpcFailure(status, context);

  const nlohmann::json summary = {
      {"events", events}, {"checkpoints", checkpoints}, {"signing_keys", signing_keys}};
  absl::StrAppend(&buffer, nlohmann::json{{"end", summary}}.dump(), "\n");
  local.Update(file->Write(buffer));
  if (local.ok()) local.Update(file->Commit());
  if (!local.ok()) return LocalFailure(local);

  if (json_) {
    nlohmann::json document = summary;
    document["output"] = c.output_file;
    *env_.out << document.dump() << "\n";
  } else {
    *env_.out << "exported " << events << " events, " << checkpoints << " checkpoints and "
              << signing_keys << " signing keys to " << EscapeForTerminal(c.output_file) << "\n";
  }
  return kExitOk;
}

}  // namespace

int Execute(Invocation invocation, const Environment& env) {
  Runner runner(invocation, env);
  const int code =
      std::visit([&runner](auto& command) { return runner.Run(command); }, invocation.command);
  env.out->flush();
  return code;
}

int RunCli(int argc, const char* const* argv, const Environment& env) {
  ParseResult parsed = ParseCommandLine(argc, argv, env);
  if (!parsed.invocation.has_value()) return parsed.exit_code;
  return Execute(*std::move(parsed.invocation), env);
}

}  // namespace credvault::cli
