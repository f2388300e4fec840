# Run by credvault_enforce_layering at build time (cmake -P): fails when a source of a
# room includes a header that the room may not depend on. See docs/architecture.md,
# "Source layout", for the rooms and the direction of their dependencies.
#
# Variables: ROOM (e.g. server/service), ALLOW (comma-separated path prefixes the room may include
# besides its own), GRPC (ON: may include grpc++ and generated service stubs), PROTO (ON: may
# include the API's generated messages, credvault/v1/), FILES (comma-separated), STAMP.
# Everywhere: libpqxx and libpq belong to storage/, whose exceptions stop there.

string(REPLACE "," ";" FILES "${FILES}")
string(REPLACE "," ";" ALLOW "${ALLOW}")
set(violations "")
foreach(file IN LISTS FILES)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*$" "\\1" header "${line}")
    set(allowed TRUE)
    if(header MATCHES "^grpcpp/" OR header MATCHES "^grpc/" OR header MATCHES "\\.grpc\\.pb\\.h$")
      if(NOT GRPC)
        set(allowed FALSE)
      endif()
    elseif(header MATCHES "^credvault/v1/")
      if(NOT PROTO)
        set(allowed FALSE)
      endif()
    elseif(header MATCHES "^pqxx/" OR header MATCHES "^libpq-fe\\.h$")
      if(NOT ROOM MATCHES "^storage(/|$)")
        set(allowed FALSE)
      endif()
    elseif(header MATCHES "^(crypto|storage)/internal/")
      # A module's internal/ headers are its own.
      string(REGEX MATCH "^[a-z]+" module "${header}")
      if(NOT ROOM MATCHES "^${module}(/|$)")
        set(allowed FALSE)
      endif()
    elseif(header MATCHES "^server/")
      set(allowed FALSE)
      foreach(prefix IN LISTS ROOM ALLOW)
        if(header MATCHES "^${prefix}(/|$)")
          set(allowed TRUE)
        endif()
      endforeach()
    endif()
    if(NOT allowed)
      string(APPEND violations "\n  ${file}: ${header}")
    endif()
  endforeach()
endforeach()

if(violations)
  message(FATAL_ERROR "${ROOM} may include only its own headers and those of [${ALLOW}]"
                      "${violations}")
endif()
file(WRITE "${STAMP}" "")
