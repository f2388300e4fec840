#ifndef CREDVAULT_SERVER_CONFIG_LIBPQ_CONNINFO_H_
#define CREDVAULT_SERVER_CONFIG_LIBPQ_CONNINFO_H_

#include <cstddef>
#include <string_view>

#include "server/config/config.h"
#include "server/config/config_secret.h"

namespace credvault::server {

// True when every entry of `hosts` (libpq's comma-separated host list) is a Unix socket
// directory (starts with '/' or '@'; empty means libpq's default socket) or a loopback
// address (address.h): traffic that never crosses a network. One remote entry is enough
// for an attacker on the path, since libpq falls through the list when a host fails.
bool IsLocalDatabaseHostList(std::string_view hosts);

// How many entries libpq's comma-separated `list` (of hosts, or of ports) has: one more
// than its commas, so "" is one entry (libpq's default).
std::size_t LibpqListSize(std::string_view list);

// The sslmode libpq is given: the configured one, else verify-full unless every host is
// local (prefer there, so that development and test databases need no certificates).
SslMode EffectiveSslMode(const DatabaseConfig& database);

// The libpq connection string for `role` (host, port, dbname, user, password, the
// EffectiveSslMode, connect_timeout, application_name, and with more than one host
// target_session_attrs=read-write), every value quoted, so a password with spaces or quotes
// cannot inject other keywords. A ConfigSecret because it holds the password.
ConfigSecret LibpqConnectionString(const DatabaseConfig& database, const DatabaseRoleConfig& role);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_CONFIG_LIBPQ_CONNINFO_H_
