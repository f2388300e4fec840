# Generates a .cc that holds every SQL migration as a raw string literal, so that the
# binaries need no files at run time.
#   cmake -DOUTPUT=<file.cc> -DMIGRATIONS=<a.sql;b.sql> -P embed_migrations.cmake
# File names must be NNNN_name.sql; versions must be 1, 2, 3, ... without gaps.
set(delimiter "credvault_sql")
set(entries "")
set(expected 1)
foreach(path IN LISTS MIGRATIONS)
  get_filename_component(file "${path}" NAME)
  if(NOT file MATCHES "^([0-9][0-9][0-9][0-9])_([a-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "migration file name must be NNNN_name.sql: ${file}")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  if(NOT version EQUAL expected)
    message(FATAL_ERROR "migration ${file}: expected version ${expected}")
  endif()
  math(EXPR expected "${expected} + 1")
  get_filename_component(name "${path}" NAME_WE)
  file(READ "${path}" sql)
  string(FIND "${sql}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "migration ${file} contains the raw string delimiter")
  endif()
  string(APPEND entries "    {${version}, \"${name}\", R\"${delimiter}(${sql})${delimiter}\"},\n")
endforeach()

set(content "// Generated from storage/migrations/*.sql by storage/embed_migrations.cmake.
#include \"storage/migrations.h\"

namespace credvault::storage {
namespace {

constexpr Migration kMigrations[] = {
${entries}};

}  // namespace

absl::Span<const Migration> EmbeddedMigrations() { return kMigrations; }

}  // namespace credvault::storage
")
# Rewrite only on change, so that an unchanged migration set does not trigger a rebuild.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" previous)
  if(previous STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")
