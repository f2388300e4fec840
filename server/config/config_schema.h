#ifndef CREDVAULT_SERVER_CONFIG_CONFIG_SCHEMA_H_
#define CREDVAULT_SERVER_CONFIG_CONFIG_SCHEMA_H_

#include "server/config/config.h"
#include "server/schema/schema.h"

namespace credvault::server {

// The schema of the credvaultd configuration file: per-key types, ranges, defaults and
// meanings. Rules that relate several keys are in config.cc. Internal to server/config.
void VisitConfig(SchemaVisitor& v, Config& config);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_CONFIG_CONFIG_SCHEMA_H_
