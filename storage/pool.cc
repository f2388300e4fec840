#include "storage/pool.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <optional>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "storage/deadline_watchdog.h"
#include "storage/idle_connection.h"
#include "storage/pg_error.h"
#include "storage/transaction_impl.h"
#include "storage/validation.h"

namespace credvault::storage {
namespace {

// Session settings of every connection. Values are bound, never spliced.
constexpr Statement kConfigureSession{
    "pool.configure_session",
    "SELECT set_config('statement_timeout', $1, false), "
    "set_config('idle_in_transaction_session_timeout', $2, false), "
    "set_config('bytea_output', 'hex', false), "
    "set_config('client_encoding', 'UTF8', false)"};
// Everything about the login role that would let it step around row-level security,
// column privileges or the triggers that guard the audit log: superuser or BYPASSRLS;
// membership (direct, inherited or by SET ROLE) in the predefined roles that read or
// write every table; and owning, or being a member of the owner of, any relation or
// function of the schema (an owner has every privilege on it, can disable its triggers
// and row-level security, and can replace a function). One row; object names only.
constexpr Statement kCheckRole{"pool.check_role", R"sql(
SELECT r.rolname::text,
       r.rolsuper OR r.rolbypassrls,
       (SELECT string_agg(p.rolname::text, ', ' ORDER BY p.rolname) FROM pg_roles p
         WHERE p.rolname IN ('pg_read_all_data', 'pg_write_all_data')
           AND pg_has_role(r.oid, p.oid, 'MEMBER')),
       (SELECT min(c.relname::text) FROM pg_class c
         WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'public')
           AND pg_has_role(r.oid, c.relowner, 'MEMBER')),
       (SELECT min(f.proname::text) FROM pg_proc f
         WHERE f.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'public')
           AND pg_has_role(r.oid, f.proowner, 'MEMBER'))
  FROM pg_roles r WHERE r.rolname = current_user)sql"};

// Why the role of the connection must not serve requests; empty when it may.
std::vector<std::string> RoleRefusalReasons(const pqxx::row& check) {
  std::vector<std::string> reasons;
  if (check[1].as<bool>()) {
    reasons.push_back(
        "it is a superuser or has BYPASSRLS, so row-level security would not isolate tenants");
  }
  if (!check[2].is_null()) {
    reasons.push_back("it is a member of " + check[2].as<std::string>() +
                      " (predefined roles that read or write every table whatever the grants)");
  }
  if (!check[3].is_null()) {
    reasons.push_back("it owns (or is a member of the owner of) relation " +
                      check[3].as<std::string>() +
                      "; owners bypass grants and can disable triggers and row-level security");
  }
  if (!check[4].is_null()) {
    reasons.push_back("it owns (or is a member of the owner of) function " +
                      check[4].as<std::string>() + "; owners can replace it");
  }
  return reasons;
}

std::string MillisSetting(absl::Duration d) {
  return std::to_string(absl::ToInt64Milliseconds(d)) + "ms";
}

// How long after a caller's deadline its round trip is cut. PostgreSQL's own
// statement_timeout (set to the caller's deadline when it is near) answers first when the
// database is reachable, keeping the connection; the cut is for when it is not.
constexpr absl::Duration kDeadlineGrace = absl::Milliseconds(250);

absl::Status DatabaseTooSlow(std::string_view what) {
  return absl::DeadlineExceededError(
      std::string(what) +
      ": the database did not answer before the deadline; the connection was cut and whether "
      "the work took effect is unknown");
}

struct PooledConnection {
  std::unique_ptr<pqxx::connection> connection;
  std::uint64_t generation = 0;
  // Names of the statements prepared on this connection (by Call).
  absl::flat_hash_set<std::string> prepared;
};

}  // namespace

class ConnectionPool::Impl {
 public:
  explicit Impl(PoolOptions options) : options_(std::move(options)) {}

  absl::Status Run(std::string org_id, absl::Time deadline, TransactionFn fn);
  absl::StatusOr<std::vector<Row>> Call(const Statement& statement,
                                        absl::Span<const SqlParam> params, absl::Time deadline,
                                        IfConnectionLost if_lost);

  PoolStats Stats() const {
    absl::MutexLock lock(&mu_);
    return PoolStats{open_, idle_.size()};
  }

 private:
  absl::StatusOr<PooledConnection> Acquire(absl::Time deadline);
  void Release(PooledConnection connection, bool broken);
  // Opening a connection is bounded by the connection string's connect_timeout; its
  // session set-up by `deadline`.
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(absl::Time deadline);
  absl::Duration Backoff(int attempt);

  const PoolOptions options_;
  mutable absl::Mutex mu_;
  std::vector<PooledConnection> idle_ ABSL_GUARDED_BY(mu_);
  std::size_t open_ ABSL_GUARDED_BY(mu_) = 0;
  // Signalled when a connection goes back to the pool or its slot is freed.
  absl::CondVar connection_released_;
  // Bumped when a connection is found broken: idle connections of older generations were
  // opened before the failure (likely to the same dead server) and are dropped unused.
  std::uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
  // Cuts round trips that outlive their caller's deadline (storage/deadline_watchdog.h).
  DeadlineWatchdog watchdog_;
};

absl::StatusOr<std::unique_ptr<pqxx::connection>> ConnectionPool::Impl::Connect(
    absl::Time deadline) {
  std::unique_ptr<pqxx::connection> connection;
  try {
    connection = std::make_unique<pqxx::connection>(options_.connection_string);
    // libpqxx 6 would otherwise reconnect a broken connection behind our back, losing the
    // session settings below; the pool replaces broken connections itself.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    connection->inhibit_reactivation(true);
#pragma GCC diagnostic pop
  } catch (const std::exception& e) {
    return ClassifyPgException("pool.connect", e).status;
  }
  DeadlineWatchdog::Watch watch = watchdog_.Start(connection->sock(), deadline + kDeadlineGrace);
  try {
    pqxx::nontransaction tx(*connection);
    tx.exec_params(std::string(kConfigureSession.sql), MillisSetting(options_.statement_timeout),
                   MillisSetting(options_.statement_timeout + absl::Seconds(5)));
    const pqxx::result check = tx.exec_params(std::string(kCheckRole.sql));
    if (check.size() != 1) {
      return absl::FailedPreconditionError(
          "pool.connect: the database role of the connection is not in pg_roles");
    }
    if (const std::vector<std::string> reasons = RoleRefusalReasons(check[0]); !reasons.empty()) {
      return absl::FailedPreconditionError(
          "pool.connect: database role " + check[0][0].as<std::string>() +
          " must not serve requests: " + absl::StrJoin(reasons, "; ") +
          ". Use the roles made by `credvaultd migrate` (see docs/security-model.md)");
    }
  } catch (const std::exception& e) {
    if (watch.Release()) return DatabaseTooSlow("pool.connect");
    return ClassifyPgException("pool.connect", e).status;
  }
  if (watch.Release()) return DatabaseTooSlow("pool.connect");
  return connection;
}

absl::StatusOr<PooledConnection> ConnectionPool::Impl::Acquire(absl::Time request_deadline) {
  const absl::Time deadline = std::min(absl::Now() + options_.acquire_timeout, request_deadline);
  while (true) {
    std::optional<PooledConnection> idle;
    std::uint64_t generation;
    {
      absl::MutexLock lock(&mu_);
      bool timed_out = false;
      while (idle_.empty() && open_ >= options_.max_size && !timed_out) {
        timed_out = connection_released_.WaitWithDeadline(&mu_, deadline);
      }
      if (idle_.empty() && open_ >= options_.max_size) {
        if (deadline == request_deadline) {
          return absl::DeadlineExceededError("deadline passed while waiting for a connection");
        }
        return absl::UnavailableError("connection pool exhausted: no connection free within " +
                                      absl::FormatDuration(options_.acquire_timeout));
      }
      if (!idle_.empty()) {
        idle = std::move(idle_.back());
        idle_.pop_back();
      } else {
        ++open_;  // reserve the slot; connect without holding the lock
      }
      generation = generation_;
    }
    if (idle.has_value()) {
      if (IdleConnectionAlive(*idle->connection)) return std::move(*idle);
      absl::MutexLock lock(&mu_);
      --open_;  // closed by the server while idle; try the next one or a new one
      connection_released_.Signal();
      continue;
    }
    absl::StatusOr<std::unique_ptr<pqxx::connection>> connection = Connect(request_deadline);
    if (!connection.ok()) {
      absl::MutexLock lock(&mu_);
      --open_;
      connection_released_.Signal();
      return connection.status();
    }
    return PooledConnection{std::move(*connection), generation, {}};
  }
}

void ConnectionPool::Impl::Release(PooledConnection connection, bool broken) {
  absl::MutexLock lock(&mu_);
  if (broken) {
    connection_released_.SignalAll();  // several slots may free up at once
    --open_;
    ++generation_;
    std::erase_if(idle_, [&](const PooledConnection& idle) {
      if (idle.generation >= generation_) return false;
      --open_;
      return true;
    });
    return;  // `connection` closes on scope exit
  }
  connection_released_.Signal();
  if (connection.generation < generation_) {
    --open_;
    return;
  }
  idle_.push_back(std::move(connection));
}

absl::Duration ConnectionPool::Impl::Backoff(int attempt) {
  absl::Duration ceiling = options_.base_backoff;
  for (int i = 1; i < attempt && ceiling < options_.max_backoff; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, options_.max_backoff);
  absl::MutexLock lock(&mu_);
  // Full jitter: concurrent losers of the same conflict do not retry in lockstep.
  return absl::Microseconds(absl::Uniform<std::int64_t>(
      bitgen_, 0, std::max<std::int64_t>(1, absl::ToInt64Microseconds(ceiling))));
}

absl::Status ConnectionPool::Impl::Run(std::string org_id, absl::Time deadline, TransactionFn fn) {
  absl::Status status;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    const absl::Duration remaining = deadline - absl::Now();
    if (remaining <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("deadline passed before the transaction could run");
    }
    absl::StatusOr<PooledConnection> connection = Acquire(deadline);
    if (!connection.ok()) return connection.status();
    DeadlineWatchdog::Watch watch =
        watchdog_.Start(connection->connection->sock(), deadline + kDeadlineGrace);
    Transaction::Impl impl(*connection->connection, org_id);
    // A caller's deadline shorter than the pool's statement timeout bounds every statement
    // of this transaction, so the database stops working for a caller who has gone.
    std::optional<absl::Duration> statement_timeout;
    const absl::Duration left = deadline - absl::Now();
    if (left < options_.statement_timeout) {
      statement_timeout = std::max(left, absl::Milliseconds(1));
    }
    status = impl.Begin(statement_timeout);
    if (status.ok()) {
      Transaction tx(impl);
      status = fn(tx);
      if (status.ok()) {
        status = impl.Commit();
      } else {
        impl.Rollback();
      }
    } else {
      impl.Rollback();
    }
    bool broken = impl.connection_broken();
    bool retryable = impl.retryable() && !status.ok();
    if (watch.Release()) {
      // The socket was cut under the transaction: it may or may not have committed.
      broken = true;
      retryable = false;
      status = DatabaseTooSlow("transaction");
    }
    Release(std::move(*connection), broken);
    if (status.ok() || !retryable) return status;
    // A lost connection is retried at once on a fresh one; conflicts back off first.
    if (!broken && attempt < options_.max_attempts) absl::SleepFor(Backoff(attempt));
  }
  return status;
}

absl::StatusOr<std::vector<Row>> ConnectionPool::Impl::Call(const Statement& statement,
                                                            absl::Span<const SqlParam> params,
                                                            absl::Time deadline,
                                                            IfConnectionLost if_lost) {
  absl::StatusOr<std::vector<const char*>> values = ParameterValues(statement, params);
  if (!values.ok()) return values.status();
  if (deadline - absl::Now() < options_.statement_timeout / 4) {
    // A near deadline bounds the statement, which takes a transaction to say. A farther
    // one does not: a lone statement then outlives a departed caller by at most the
    // pool's statement timeout, and the common deadlines keep their single round trip.
    absl::StatusOr<std::vector<Row>> rows;
    const absl::Status status = Run(std::string(), deadline, [&](Transaction& tx) {
      rows = tx.Execute(statement, params);
      return rows.status();
    });
    if (!status.ok()) return status;
    return rows;
  }
  absl::StatusOr<std::vector<Row>> rows;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (deadline - absl::Now() <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("deadline passed before the statement could run");
    }
    absl::StatusOr<PooledConnection> connection = Acquire(deadline);
    if (!connection.ok()) return connection.status();
    bool broken = false;
    bool retryable = false;
    DeadlineWatchdog::Watch watch =
        watchdog_.Start(connection->connection->sock(), deadline + kDeadlineGrace);
    try {
      const std::string name(statement.name);
      if (!connection->prepared.contains(name)) {
        connection->connection->prepare(name, std::string(statement.sql));
        connection->prepared.insert(name);
      }
      pqxx::nontransaction tx(*connection->connection);
      rows = RowsOf(tx.exec_prepared(
          name, pqxx::prepare::make_dynamic_params(values->begin(), values->end())));
    } catch (const std::exception& e) {
      PgFailure failure = ClassifyPgException(statement.name, e);
      broken = failure.connection_broken || !connection->connection->is_open();
      retryable = failure.retryable;
      rows = std::move(failure.status);
      if (broken && if_lost == IfConnectionLost::kFail) {
        // Unlike a transaction cut off before its commit, a lone statement may have
        // committed before the connection went: running it again could do it twice.
        retryable = false;
        rows = absl::UnavailableError(
            std::string(statement.name) +
            ": the connection to the database broke while the statement ran; whether it "
            "took effect is unknown");
      }
    }
    if (watch.Release()) {
      broken = true;
      retryable = false;
      rows = DatabaseTooSlow(statement.name);
    }
    Release(std::move(*connection), broken);
    if (rows.ok() || !retryable) return rows;
    if (!broken && attempt < options_.max_attempts) absl::SleepFor(Backoff(attempt));
  }
  return rows;
}

ConnectionPool::ConnectionPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConnectionPool::~ConnectionPool() = default;

absl::StatusOr<std::unique_ptr<ConnectionPool>> ConnectionPool::Create(PoolOptions options) {
  if (options.connection_string.empty()) {
    return absl::InvalidArgumentError("connection_string: must not be empty");
  }
  if (options.max_size == 0) return absl::InvalidArgumentError("max_size: must be positive");
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError("max_attempts: must be at least 1");
  }
  if (options.acquire_timeout < absl::ZeroDuration() ||
      options.statement_timeout <= absl::ZeroDuration() ||
      options.base_backoff < absl::ZeroDuration() || options.max_backoff < options.base_backoff) {
    return absl::InvalidArgumentError("timeouts and backoffs must be positive and ordered");
  }
  return std::unique_ptr<ConnectionPool>(
      new ConnectionPool(std::make_unique<Impl>(std::move(options))));
}

absl::Status ConnectionPool::Run(std::string_view org_id, TransactionFn fn) {
  return Run(org_id, absl::InfiniteFuture(), fn);
}

absl::Status ConnectionPool::Run(std::string_view org_id, absl::Time deadline, TransactionFn fn) {
  if (absl::Status valid = ValidateOrgId(org_id); !valid.ok()) return valid;
  return impl_->Run(std::string(org_id), deadline, fn);
}

absl::Status ConnectionPool::RunWithoutOrg(TransactionFn fn) {
  return impl_->Run(std::string(), absl::InfiniteFuture(), fn);
}

absl::StatusOr<std::vector<Row>> ConnectionPool::Call(const Statement& statement,
                                                      absl::Span<const SqlParam> params,
                                                      absl::Time deadline,
                                                      IfConnectionLost if_lost) {
  return impl_->Call(statement, params, deadline, if_lost);
}

PoolStats ConnectionPool::Stats() const { return impl_->Stats(); }

}  // namespace credvault::storage
