#ifndef CREDVAULT_STORAGE_LEADER_LOCK_H_
#define CREDVAULT_STORAGE_LEADER_LOCK_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace credvault::storage {

// Keys of session advisory locks (the one-key space; the migrator's is "credvaul" in
// ASCII). Advisory locks are per database.
// "cvretain" in ASCII: the retention sweep.
inline constexpr std::int64_t kRetentionLeaderLockKey = 7167041637076527470;
// "cvchkpnt" in ASCII: the signing of audit checkpoints.
inline constexpr std::int64_t kAuditCheckpointLeaderLockKey = 7167025157137002100;

struct LeaderLockOptions {
  // libpq connection string of the role that does the work; include connect_timeout.
  std::string connection_string;
  std::int64_t key = 0;
  // Bounds the lock statements, so a hung server cannot hang the caller.
  absl::Duration statement_timeout = absl::Seconds(5);
};

// Leadership among replicas: a session-level PostgreSQL advisory lock, held on a
// connection of its own for as long as the holder keeps it. PostgreSQL releases the lock
// when that session ends, so a holder that crashes or is cut off loses it without help,
// and another replica's Acquire takes it over. The holder, for its part, treats any
// failure of its connection as lost leadership: libpqxx is told never to reconnect behind
// its back, since a new session would not hold the lock.
//
// Leadership only keeps replicas from doing the same work at once; anything done under it
// must still be safe to run twice (a holder learns that it was cut off only at its next
// Acquire). Not thread-safe: one owner thread.
class LeaderLock {
 public:
  // Validates the options; connects on the first Acquire.
  static absl::StatusOr<std::unique_ptr<LeaderLock>> Create(LeaderLockOptions options);

  ~LeaderLock();  // Release()
  LeaderLock(const LeaderLock&) = delete;
  LeaderLock& operator=(const LeaderLock&) = delete;

  // Confirms that this holder still has the lock or, if it has not (or its session was
  // lost), tries once to take it, reconnecting as needed. false: another session holds
  // it. UNAVAILABLE (not holding) when the database cannot be reached.
  absl::StatusOr<bool> Acquire();

  // Gives the lock up and closes the connection. Idempotent.
  void Release();

  // Whether the last Acquire found this holder leading.
  bool held() const { return held_; }

 private:
  class Connection;
  explicit LeaderLock(LeaderLockOptions options);

  const LeaderLockOptions options_;
  std::unique_ptr<Connection> connection_;
  bool held_ = false;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_LEADER_LOCK_H_
