#ifndef CREDVAULT_SERVER_APP_KEY_PIN_COMMANDS_H_
#define CREDVAULT_SERVER_APP_KEY_PIN_COMMANDS_H_

#include <string_view>
#include <vector>

namespace credvault::server {

// The commands that print the pins a write tier's configuration needs
// (docs/architecture.md, "The two tiers").

// `credvaultd init-root-key --config=FILE`: on the decrypt tier's configuration, makes root
// key version 1 if the database has none, and prints the pin of every root key for the
// write tier's keys.root_key_pins.
int RunInitRootKeyCommand(const std::vector<std::string_view>& args);

// `credvaultd key-directory-pins --config=FILE`: prints the public half of every key
// directory signing key of a decrypt-tier configuration, for keys.key_directory_pins.
int RunKeyDirectoryPinsCommand(const std::vector<std::string_view>& args);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_KEY_PIN_COMMANDS_H_
