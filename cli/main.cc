// credvaultctl: the operator and developer command line of credvault. Everything but the
// process environment lives in the credvault_cli library (cli/commands.h).

#include <sys/resource.h>

#include "cli/commands.h"
#include "cli/environment.h"

int main(int argc, char** argv) {
  // A core dump would hold whatever secret was in flight (put, compare, decrypt).
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  return credvault::cli::RunCli(argc, argv, credvault::cli::ProcessEnvironment());
}
