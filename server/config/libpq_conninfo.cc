#include "server/config/libpq_conninfo.h"

#include <algorithm>
#include <cstddef>
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

std::size_t LibpqListSize(std::string_view list) {
  return static_cast<std::size_t>(std::count(list.begin(), list.end(), ',')) + 1;
}

SslMode EffectiveSslMode(const DatabaseConfig& database) {
  if (database.sslmode.has_value()) return *database.sslmode;
  return IsLocalDatabaseHostList(database.host) ? SslMode::kPrefer : SslMode::kVerifyFull;
}

ConfigSecret LibpqConnectionString(const DatabaseConfig& database, const DatabaseRoleConfig& role) {
  std::string out;
  AppendKeyword(out, "host", database.host);
  AppendKeyword(out, "port", database.port);
  AppendKeyword(out, "dbname", database.dbname);
  AppendKeyword(out, "user", role.user);
  if (!role.password.empty()) AppendKeyword(out, "password", role.password.RevealSecret());
  AppendKeyword(out, "sslmode", SslModeName(EffectiveSslMode(database)));
  AppendKeyword(out, "connect_timeout",
                absl::StrCat(absl::ToInt64Seconds(database.connect_timeout)));
  AppendKeyword(out, "application_name", "credvaultd");
  // A host that vanishes without closing its connections (a partition, a dead machine)
  // must not hold a request for the kernel's default of about 15 minutes: keepalives
  // notice a silent peer within about 11 s, and data left unacknowledged for longer than a
  // statement may run plus a connect fails the connection, which the pool then replaces.
  AppendKeyword(out, "keepalives", "1");
  AppendKeyword(out, "keepalives_idle", "5");
  AppendKeyword(out, "keepalives_interval", "2");
  AppendKeyword(out, "keepalives_count", "3");
  AppendKeyword(out, "tcp_user_timeout",
                absl::StrCat(absl::ToInt64Milliseconds(database.statement_timeout +
                                                       database.connect_timeout)));
  // Every role writes (the decrypt tier at least its audit events), so a hot standby is of
  // no use: libpq skips hosts that are read-only, and after a failover new connections
  // reach whichever host was promoted. With one host there is nothing to choose between.
  if (LibpqListSize(database.host) > 1) {
    AppendKeyword(out, "target_session_attrs", "read-write");
  }
  return ConfigSecret(std::move(out));
}

}  // namespace credvault::server
