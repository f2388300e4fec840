#ifndef CREDVAULT_STORAGE_MIGRATIONS_H_
#define CREDVAULT_STORAGE_MIGRATIONS_H_

#include <string_view>

#include "absl/types/span.h"

namespace credvault::storage {

// One versioned schema migration. `sql` may contain the placeholders {{writer}},
// {{decryptor}} and {{admin}}, which the migrator replaces with the quoted role names.
struct Migration {
  int version;  // 1, 2, 3, ... in order, without gaps
  std::string_view name;
  std::string_view sql;
};

// The migrations of storage/migrations/, embedded at build time, ordered by version.
absl::Span<const Migration> EmbeddedMigrations();

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_MIGRATIONS_H_
