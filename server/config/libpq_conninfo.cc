#include "server/config/libpq_conninfo.h"

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "server/config/address.h"

namespace credvault::server {
namespace {

// keyword='value' with backslash and single quote escaped, as libpq's conninfo parser
// expects.
void AppendKeyword(std::string& out, std::string_view keyword, std::string_view value) {
  if (!out.empty()) out.push_back(' ');
  out.append(keyword);
  out.append("='");
  for (char c : value) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
}

bool IsUnixSocketPath(std::string_view host) {
  return !host.empty() && (host.front() == '/' || host.front() == '@');
}

}  // namespace

bool IsLocalDatabaseHostList(std::string_view hosts) {
  for (absl::string_view host :
       absl::StrSplit(absl::string_view(hosts.data(), hosts.size()), ',')) {
    // An empty entry makes libpq use its default Unix socket.
    const std::string_view entry(host.data(), host.size());
    if (entry.empty() || IsUnixSocketPath(entry) || IsLoopbackHost(entry)) continue;
    return false;
  }
  return true;
}

SslMode EffectiveSslMode(const DatabaseConfig& database) {
  if (database.sslmode.has_value()) return *database.sslmode;
  return IsLocalDatabaseHostList(database.host) ? SslMode::kPrefer : SslMode::kVerifyFull;
}

SecretString LibpqConnectionString(const DatabaseConfig& database, const DatabaseRoleConfig& role) {
  std::string out;
  AppendKeyword(out, "host", database.host);
  AppendKeyword(out, "port", absl::StrCat(database.port));
  AppendKeyword(out, "dbname", database.dbname);
  AppendKeyword(out, "user", role.user);
  if (!role.password.empty()) AppendKeyword(out, "password", role.password.RevealSecret());
  AppendKeyword(out, "sslmode", SslModeName(EffectiveSslMode(database)));
  AppendKeyword(out, "connect_timeout",
                absl::StrCat(absl::ToInt64Seconds(database.connect_timeout)));
  AppendKeyword(out, "application_name", "credvaultd");
  return SecretString(std::move(out));
}

}  // namespace credvault::server
