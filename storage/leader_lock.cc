#include "storage/leader_lock.h"

#include <exception>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <utility>

#include "storage/idle_connection.h"
#include "storage/pg_error.h"
#include "storage/transaction.h"

namespace credvault::storage {
namespace {

constexpr Statement kConfigure{"leader.configure",
                               "SELECT set_config('statement_timeout', $1, false), "
                               "set_config('application_name', 'credvaultd leader lock', false)"};
constexpr Statement kTryLock{"leader.try_lock", "SELECT pg_try_advisory_lock($1::bigint)"};
constexpr Statement kUnlock{"leader.unlock", "SELECT pg_advisory_unlock($1::bigint)"};
// Whether this session holds the lock. A one-key advisory lock shows in pg_locks with the
// key's high half as classid, its low half as objid, and objsubid 1.
constexpr Statement kHeld{
    "leader.held",
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
    "AND granted AND objsubid = 1 AND classid = ($1::bigint >> 32)::oid "
    "AND objid = ($1::bigint & 4294967295)::oid"};

}  // namespace

class LeaderLock::Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const LeaderLockOptions& options) {
    auto connection = std::unique_ptr<Connection>(new Connection());
    try {
      connection->connection_ = std::make_unique<pqxx::connection>(options.connection_string);
      // A reconnected session would not hold the lock: a broken connection must stay
      // broken, so that the holder notices.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      connection->connection_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    } catch (const std::exception& e) {
      return ClassifyPgException("leader.connect", e).status;
    }
    const std::string timeout =
        std::to_string(absl::ToInt64Milliseconds(options.statement_timeout)) + "ms";
    if (absl::StatusOr<bool> configured = connection->Query(kConfigure, timeout, false);
        !configured.ok()) {
      return configured.status();
    }
    return connection;
  }

  bool Alive() const { return IdleConnectionAlive(*connection_); }

  // One statement with one parameter, outside any transaction block: a session lock
  // outlives transactions anyway. Returns the boolean (or non-zero count) in row 0 col 0.
  template <typename Param>
  absl::StatusOr<bool> Query(const Statement& statement, const Param& param,
                             bool expect_result = true) {
    // The session may have ended while idle (terminated, server restarted): say so
    // without sending anything into the dead socket.
    if (!IdleConnectionAlive(*connection_)) {
      return absl::UnavailableError(std::string(statement.name) + ": the session has ended");
    }
    try {
      pqxx::nontransaction tx(*connection_);
      const pqxx::result result = tx.exec_params(std::string(statement.sql), param);
      if (!expect_result) return true;
      if (result.size() != 1 || result[0].size() < 1 || result[0][0].is_null()) {
        return absl::InternalError(std::string(statement.name) + ": unexpected result");
      }
      const std::string value = result[0][0].c_str();
      return value == "t" || (value != "f" && value != "0");
    } catch (const std::exception& e) {
      return ClassifyPgException(statement.name, e).status;
    }
  }

 private:
  Connection() = default;
  std::unique_ptr<pqxx::connection> connection_;
};

LeaderLock::LeaderLock(LeaderLockOptions options) : options_(std::move(options)) {}

LeaderLock::~LeaderLock() { Release(); }

absl::StatusOr<std::unique_ptr<LeaderLock>> LeaderLock::Create(LeaderLockOptions options) {
  if (options.connection_string.empty()) {
    return absl::InvalidArgumentError("leader lock: connection_string must not be empty");
  }
  if (options.statement_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("leader lock: statement_timeout must be positive");
  }
  return std::unique_ptr<LeaderLock>(new LeaderLock(std::move(options)));
}

absl::StatusOr<bool> LeaderLock::Acquire() {
  if (connection_ != nullptr && !connection_->Alive()) {
    // The session ended while idle, and the lock with it: start over on a fresh one.
    connection_.reset();
    held_ = false;
  }
  if (connection_ != nullptr && held_) {
    absl::StatusOr<bool> still = connection_->Query(kHeld, options_.key);
    if (still.ok() && *still) return true;
    // Lost (the session ended, or an operator unlocked it): start over on a fresh session,
    // since the old one may be dead.
    connection_.reset();
    held_ = false;
  }
  if (connection_ == nullptr) {
    absl::StatusOr<std::unique_ptr<Connection>> opened = Connection::Open(options_);
    if (!opened.ok()) return opened.status();
    connection_ = *std::move(opened);
  }
  absl::StatusOr<bool> taken = connection_->Query(kTryLock, options_.key);
  if (!taken.ok()) {
    connection_.reset();
    return taken.status();
  }
  held_ = *taken;
  return held_;
}

void LeaderLock::Release() {
  if (connection_ != nullptr && held_) {
    // Closing the session releases the lock anyway; unlocking first hands it over at once
    // even if the close is slow to reach the server.
    (void)connection_->Query(kUnlock, options_.key);
  }
  connection_.reset();
  held_ = false;
}

}  // namespace credvault::storage
