#include "server/config/config_flags.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace credvault::server {
namespace {

struct ConfigFlag {
  std::string_view name;
  std::string_view key;  // the configuration key it overrides
  bool is_list;          // comma-separated on the command line
  std::string_view help;
};

constexpr ConfigFlag kConfigFlags[] = {
    {"tiers", "tiers", true, "comma-separated tiers to run, e.g. --tiers=write,decrypt"},
    {"write-address", "listeners.write.address", false, "address of the write listener"},
    {"decrypt-address", "listeners.decrypt.address", false, "address of the decrypt listener"},
    {"admin-address", "listeners.admin.address", false, "address of the admin listener"},
    {"health-address", "listeners.health.address", false,
     "address of the plaintext health listener"},
    {"metrics-address", "metrics.address", false, "address of the metrics endpoint"},
    {"database-host", "database.host", false, "PostgreSQL host, or a comma-separated list"},
    {"database-port", "database.port", false, "PostgreSQL port, or one per host: 5432,5433"},
    {"policy-file", "policy_file", false, "path of the access policy"},
    {"log-level", "logging.level", false, "debug, info, warning or error"},
};

}  // namespace

absl::StatusOr<bool> ParseConfigFlag(std::string_view arg, FlagOverrides& flags) {
  if (arg.substr(0, 2) != "--") return false;
  const std::string_view body = arg.substr(2);
  const std::size_t equals = body.find('=');
  const std::string_view name = body.substr(0, equals);
  for (const ConfigFlag& flag : kConfigFlags) {
    if (flag.name != name) continue;
    const std::string origin = absl::StrCat("--", std::string(flag.name));
    if (equals == std::string_view::npos || equals + 1 == body.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": expected --", std::string(name), "=VALUE"));
    }
    const std::string value(body.substr(equals + 1));
    KeyOverride override_value{.path = std::string(flag.key), .value = value, .origin = origin};
    if (flag.is_list) {
      override_value.value = std::vector<std::string>(absl::StrSplit(value, ','));
    }
    flags.values.push_back(std::move(override_value));
    return true;
  }
  return false;
}

std::string RenderConfigFlagsReference() {
  std::string out;
  for (const ConfigFlag& flag : kConfigFlags) {
    absl::StrAppend(&out, "--", std::string(flag.name), "=VALUE  (overrides ",
                    std::string(flag.key), ")\n    ", std::string(flag.help), "\n");
  }
  return out;
}

std::vector<std::string> ConfigFlagNames() {
  std::vector<std::string> names;
  for (const ConfigFlag& flag : kConfigFlags) names.emplace_back(flag.name);
  return names;
}

}  // namespace credvault::server
