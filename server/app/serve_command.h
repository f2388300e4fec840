#ifndef CREDVAULT_SERVER_APP_SERVE_COMMAND_H_
#define CREDVAULT_SERVER_APP_SERVE_COMMAND_H_

#include <string_view>
#include <vector>

namespace credvault::server {

// `credvaultd serve --config=FILE [flags]`: runs the tiers the configuration names until
// SIGTERM or SIGINT (then drains in-flight requests); SIGHUP reloads the policy file.
int RunServeCommand(const std::vector<std::string_view>& args);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_SERVE_COMMAND_H_
