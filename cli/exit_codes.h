#ifndef CREDVAULT_CLI_EXIT_CODES_H_
#define CREDVAULT_CLI_EXIT_CODES_H_

#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace credvault::cli {

// Exit statuses of credvaultctl. Scripts branch on them, so they are part of the tool's
// interface: never renumber one.
//
// Errors reported by the server (or by the gRPC channel, e.g. UNAVAILABLE when nothing
// listens) map one-to-one to 10 + the gRPC status code number, so that no information is
// lost and the mapping needs no table to decode: PERMISSION_DENIED (7) exits 17.
enum ExitCode : int {
  kExitOk = 0,
  // The command worked and the answer is "no": `compare` found no match, or `audit verify`
  // found the chain, or the export it was given, broken.
  kExitNegative = 1,
  // Bad command line: unknown or missing argument, conflicting flags, malformed value,
  // plaintext towards a non-loopback address.
  kExitUsage = 2,
  // A local file or stdin could not be read or written (secret, token, TLS material,
  // --output file), or the secret read was empty or too large. Nothing was sent. Also an
  // audit export or public key file that cannot be read or is not one: nothing was verified.
  kExitLocalError = 3,
  kExitGrpcBase = 10,
};

// 10 + code for every error code; kExitOk for OK. Codes outside the known range (a newer
// peer) map to the exit status of UNKNOWN.
int ExitCodeForGrpcStatus(grpc::StatusCode code);

// The canonical upper-case name of a gRPC code ("PERMISSION_DENIED"), or "UNKNOWN".
absl::string_view GrpcStatusCodeName(grpc::StatusCode code);

// The exit status table as printed in --help.
std::string ExitCodeTable();

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_EXIT_CODES_H_
