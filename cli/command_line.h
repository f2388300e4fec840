#ifndef CREDVAULT_CLI_COMMAND_LINE_H_
#define CREDVAULT_CLI_COMMAND_LINE_H_

// The credvaultctl command line, parsed into the request each command will send. Parsing
// does no I/O besides printing help or usage errors: secrets, tokens and TLS files are read
// only when the command runs, so a command line can be checked without touching them.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cli/connection.h"
#include "cli/environment.h"
#include "credvault/v1/admin_service.pb.h"
#include "credvault/v1/credential_access_service.pb.h"
#include "credvault/v1/credential_service.pb.h"

namespace credvault::cli {

namespace v1 = ::credvault::v1;

// Default listener addresses (credvaultd's defaults). Credential commands talk to the
// write listener; decrypt and admin commands to the decrypt listener, which also serves
// AdminService unless a separate admin listener is configured.
inline constexpr char kDefaultWriteAddress[] = "127.0.0.1:7443";
inline constexpr char kDefaultDecryptAddress[] = "127.0.0.1:7444";

// put ORG NAME: the secret comes from stdin, or from `secret_file` when set.
struct PutCommand {
  v1::PutCredentialRequest request;
  std::string secret_file;
};
struct DeleteCommand {
  v1::DeleteCredentialRequest request;
};
struct DescribeCommand {
  v1::DescribeCredentialRequest request;
};
struct ListCommand {
  v1::ListCredentialsRequest request;
  bool all = false;  // Follow next_page_token to the end.
};
// compare ORG NAME: the candidate comes from stdin, or from `candidate_file` when set.
struct CompareCommand {
  v1::CompareCredentialRequest request;
  std::string candidate_file;
};
// decrypt: the secret goes to stdout, or to `output_file` (created 0600) when set.
struct DecryptCommand {
  v1::DecryptCredentialRequest request;
  std::string output_file;
};
struct OrgCreateCommand {
  v1::CreateOrgRequest request;
};
struct OrgDescribeCommand {
  v1::DescribeOrgRequest request;
};
// org list [--state active|destroyed]
struct OrgListCommand {
  v1::ListOrgsRequest request;
  bool all = false;
};
struct OrgRotateCommand {
  v1::RotateOrgKeyRequest request;
};
struct OrgDestroyCommand {
  v1::DestroyOrgRequest request;
};
// org destroy-key ORG VERSION --reason TEXT
struct OrgDestroyKeyCommand {
  v1::DestroyOrgKeyVersionRequest request;
};
struct RootRotateCommand {
  v1::RotateRootKeyRequest request;
};
// reseal status ORG JOB
struct ResealGetCommand {
  v1::GetResealJobRequest request;
};
// reseal status ORG
struct ResealListCommand {
  v1::ListResealJobsRequest request;
  bool all = false;
};
struct AuditListCommand {
  v1::ListAuditEventsRequest request;
  bool all = false;
};
struct AuditVerifyCommand {
  v1::VerifyAuditLogRequest request;
};
struct AuditExportCommand {
  v1::ExportAuditLogRequest request;
  std::string output_file;
};
// audit verify --file EXPORT --public-key KEY...: offline, no connection is made.
struct AuditVerifyExportCommand {
  std::string export_file;
  std::vector<std::string> public_key_files;  // at least one
};

using Command =
    std::variant<PutCommand, DeleteCommand, DescribeCommand, ListCommand, CompareCommand,
                 DecryptCommand, OrgCreateCommand, OrgDescribeCommand, OrgListCommand,
                 OrgRotateCommand, OrgDestroyCommand, OrgDestroyKeyCommand, RootRotateCommand,
                 ResealGetCommand, ResealListCommand, AuditListCommand, AuditVerifyCommand,
                 AuditExportCommand, AuditVerifyExportCommand>;

struct Invocation {
  // `connection.target` is already resolved for the command's listener.
  ConnectionOptions connection;
  bool json = false;
  bool verbose = false;
  Command command;
};

// Either an invocation to run, or the exit status to end with (0 after --help, 2 after a
// usage error); help and error text have then been written to env.out / env.err.
struct ParseResult {
  std::optional<Invocation> invocation;
  int exit_code = 0;
};

// Parses argv (argv[0] is the program name). Environment variables fill in connection
// options the command line leaves out; idempotency keys the user did not give are drawn
// from env.new_idempotency_key.
ParseResult ParseCommandLine(int argc, const char* const* argv, const Environment& env);

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_COMMAND_LINE_H_
