#ifndef CREDVAULT_CLI_COMMANDS_H_
#define CREDVAULT_CLI_COMMANDS_H_

// Running credvaultctl: one RPC (or a paged series of them) per command, its output, and
// the exit status (see exit_codes.h).

#include "cli/command_line.h"
#include "cli/environment.h"

namespace credvault::cli {

// Sends the invocation's request(s) and prints the outcome. Secrets read for the request
// are wiped once it is sent; a decrypted secret is wiped once it is written.
int Execute(Invocation invocation, const Environment& env);

// ParseCommandLine, then Execute: the whole tool. main() only supplies the environment.
int RunCli(int argc, const char* const* argv, const Environment& env);

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_COMMANDS_H_
