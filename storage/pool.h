#ifndef CREDVAULT_STORAGE_POOL_H_
#define CREDVAULT_STORAGE_POOL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "storage/transaction.h"

namespace credvault::storage {

struct PoolOptions {
  // libpq connection string or URL for one database role. Include connect_timeout: a
  // connection attempt to an unreachable server otherwise waits for the OS.
  std::string connection_string;
  // Most connections open at once (leased plus idle).
  std::size_t max_size = 8;
  // How long Run waits for a free connection before failing with UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(2);
  // Server-side statement_timeout of every connection; exceeded -> DEADLINE_EXCEEDED.
  absl::Duration statement_timeout = absl::Seconds(10);
  // Attempts of one transaction when it fails with a serialization failure, a deadlock
  // or a connection lost before commit; backoff doubles from base to max, with jitter.
  int max_attempts = 5;
  absl::Duration base_backoff = absl::Milliseconds(5);
  absl::Duration max_backoff = absl::Milliseconds(200);
};

struct PoolStats {
  std::size_t open = 0;  // leased + idle
  std::size_t idle = 0;
};

// A bounded pool of connections of one database role, and the transaction runner on top.
//
// Every connection is checked when it is opened: the role must be neither a superuser nor
// BYPASSRLS, nor a member of pg_read_all_data or pg_write_all_data, nor own (directly or
// through a role it belongs to) any table or function of the public schema, because tenant
// isolation relies on row-level security, column privileges and triggers that all of these
// step around. Such a role fails every call with FAILED_PRECONDITION. A connection that
// breaks (e.g. the server restarted) is discarded, together with every idle connection
// opened before it, and replaced on demand. Thread-safe.
class ConnectionPool {
 public:
  using TransactionFn = absl::FunctionRef<absl::Status(Transaction&)>;

  // Validates the options; connections are opened lazily.
  static absl::StatusOr<std::unique_ptr<ConnectionPool>> Create(PoolOptions options);

  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Opens a transaction, sets credvault.org_id to `org_id` (validated, bound as a
  // parameter), runs `fn` and commits if it returned OK; otherwise rolls back and returns
  // its status. Serialization failures, deadlocks and connections lost before commit are
  // retried within the attempt budget, so `fn` may run more than once and must not keep
  // state across runs. Fails with UNAVAILABLE when no connection is to be had in time or
  // the database is unreachable.
  absl::Status Run(std::string_view org_id, TransactionFn fn);

  // As Run, bounded by a caller's deadline (e.g. a gRPC deadline): waiting for a
  // connection stops at it, and when it is nearer than the pool's statement timeout every
  // statement gets the time that is left. DEADLINE_EXCEEDED when it passes.
  absl::Status Run(std::string_view org_id, absl::Time deadline, TransactionFn fn);

  // What Call does when the connection breaks while its statement runs.
  enum class IfConnectionLost {
    kRetry,  // the statement only reads: it runs again on a fresh connection
    kFail,   // it writes and may have committed: UNAVAILABLE, the outcome is unknown
  };

  // Runs one statement as a transaction of its own: a single round trip, prepared once
  // per connection. For the hot paths, whose statements call a function of the schema
  // that sets its org itself (credvault.org_id is not set here, so a statement that reads
  // tenant tables directly sees no rows). Retries serialization failures and deadlocks as
  // Run does. When less than a quarter of the pool's statement timeout is left before
  // `deadline`, the statement runs inside a transaction that bounds it by the time left
  // (three round trips more); otherwise the pool's statement timeout bounds it.
  absl::StatusOr<std::vector<Row>> Call(const Statement& statement,
                                        absl::Span<const SqlParam> params, absl::Time deadline,
                                        IfConnectionLost if_lost);

  // As Run, for the few tables that are not tenant data (root keys). Tenant tables show
  // no rows in such a transaction.
  absl::Status RunWithoutOrg(TransactionFn fn);

  PoolStats Stats() const;

 private:
  class Impl;
  explicit ConnectionPool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_POOL_H_
