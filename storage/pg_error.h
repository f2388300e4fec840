#ifndef CREDVAULT_STORAGE_PG_ERROR_H_
#define CREDVAULT_STORAGE_PG_ERROR_H_

#include <exception>
#include <string_view>

#include "absl/status/status.h"

namespace credvault::storage {

// What a database failure means for the caller and for the connection it happened on.
struct PgFailure {
  absl::Status status;
  // Running the whole transaction again may succeed (serialization failure, deadlock,
  // connection lost before commit).
  bool retryable = false;
  // The connection is unusable and must be discarded.
  bool connection_broken = false;
};

// Maps an exception thrown by libpqxx (or anything else) while running `what` to a status:
//   connection lost, server shutting down, too many connections -> UNAVAILABLE
//   commit outcome unknown                                       -> UNAVAILABLE
//   serialization failure, deadlock, lock timeout                -> ABORTED (retryable)
//   unique violation                                             -> ALREADY_EXISTS
//   foreign key violation                                        -> FAILED_PRECONDITION
//   check / not-null violation, invalid data                     -> INVALID_ARGUMENT
//   statement timeout                                            -> DEADLINE_EXCEEDED
//   insufficient privilege, row-level security refusal           -> PERMISSION_DENIED
//   anything else                                                -> INTERNAL
// The message names the statement and the SQLSTATE. The server's message is included
// only for error classes whose primary message never carries row values (never its
// DETAIL), so that no stored value reaches a log.
PgFailure ClassifyPgException(std::string_view what, const std::exception& e);

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_PG_ERROR_H_
