#ifndef CREDVAULT_SERVER_SCHEMA_SCHEMA_PARSER_H_
#define CREDVAULT_SERVER_SCHEMA_SCHEMA_PARSER_H_

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "server/schema/schema.h"

namespace credvault::server {

// A value set from outside the file (a command-line flag) at a dotted key path, e.g.
// "listeners.write.address". Missing parent mappings are created. Scalars are taken as
// strings and then checked by the schema like any value from the file.
struct KeyOverride {
  std::string path;
  std::variant<std::string, std::vector<std::string>> value;
  // Where the value came from (e.g. "--write-address"), named in error messages.
  std::string origin;
};

// Parses the YAML document `yaml` into the value that `schema` walks, strictly: unknown and
// duplicate keys, wrong types and out-of-range values are all errors. Every problem is
// reported, one per line, as "<source>:<line>: <key path>: <why>", in one
// INVALID_ARGUMENT status. Messages name keys and rules, never the values, so a secret
// typed into the wrong key does not end up in a log.
absl::Status ParseYamlWithSchema(std::string_view yaml, std::string_view source_name,
                                 absl::FunctionRef<void(SchemaVisitor&)> schema,
                                 const std::vector<KeyOverride>& overrides = {});

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SCHEMA_SCHEMA_PARSER_H_
