#ifndef CREDVAULT_SERVER_SCHEMA_SCHEMA_REFERENCE_H_
#define CREDVAULT_SERVER_SCHEMA_SCHEMA_REFERENCE_H_

#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "server/schema/schema.h"

namespace credvault::server {

// One key of a schema, as documented.
struct SchemaKey {
  // Dotted path; list elements appear as "[]" (e.g. "principals[].roles").
  std::string path;
  // "section", "list of sections", or the value type with its range or choices.
  std::string type;
  // "required", "none" (optional, no default) or the default value.
  std::string default_value;
  std::string help;
  bool is_section = false;
};

// Every key that `schema` accepts, in schema order. The schema walks a default-constructed
// value, whose contents are the defaults shown.
std::vector<SchemaKey> DescribeSchema(absl::FunctionRef<void(SchemaVisitor&)> schema);

// A plain-text reference of `keys` for --help and the docs: one block per key with its
// type and default, then its meaning, indented.
std::string RenderSchemaReference(absl::Span<const SchemaKey> keys);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SCHEMA_SCHEMA_REFERENCE_H_
