#ifndef CREDVAULT_SERVER_CONFIG_LIBPQ_CONNINFO_H_
#define CREDVAULT_SERVER_CONFIG_LIBPQ_CONNINFO_H_

#include "server/config/config.h"
#include "server/config/secret_string.h"

namespace credvault::server {

// The libpq connection string for `role` (host, port, dbname, user, password, sslmode,
// connect_timeout, application_name), every value quoted, so a password with spaces or
// quotes cannot inject other keywords. A SecretString because it holds the password.
SecretString LibpqConnectionString(const DatabaseConfig& database, const DatabaseRoleConfig& role);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_CONFIG_LIBPQ_CONNINFO_H_
