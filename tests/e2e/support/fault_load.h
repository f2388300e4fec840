// Load that a fault test keeps running while it breaks something, and the invariants it
// checks afterwards: nothing credvault acknowledged may be lost (docs/operations.md,
// "Faults and recovery").
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_FAULT_LOAD_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_FAULT_LOAD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {

struct FaultLoadOptions {
  std::string org_prefix = "fault";  // orgs "<prefix>-0" .. "<prefix>-<orgs - 1>"
  int orgs = 2;
  int writers = 4;  // each owns its own credential names, so its Puts to a name are ordered
  int names_per_writer = 4;
  int readers = 2;
  // Each call's deadline. A retried Put uses a new deadline and the same idempotency key.
  std::chrono::milliseconds call_deadline{3000};
  // How long a writer keeps retrying one Put before it gives up on it (the Put's outcome is
  // then unknown: it may or may not have been committed, and the checks allow for both).
  std::chrono::milliseconds give_up_after{60000};
};

// What the load counted; printed by the tests so that a reader sees the figures.
struct FaultLoadCounts {
  std::uint64_t puts_acked = 0;
  std::uint64_t puts_replayed = 0;  // acked as an idempotent replay of an earlier attempt
  std::uint64_t put_retries = 0;    // attempts after the first, same idempotency key
  std::uint64_t puts_given_up = 0;  // outcome unknown
  std::uint64_t decrypts_acked = 0;
  std::uint64_t decrypt_failures = 0;  // UNAVAILABLE, DEADLINE_EXCEEDED, ... (not retried)
  std::map<std::string, std::uint64_t> failures_by_code;  // every failed attempt
  std::uint64_t unexpected = 0;  // answers a well-behaved client must never see
  std::vector<std::string> unexpected_examples;
};
std::ostream& operator<<(std::ostream& out, const FaultLoadCounts& counts);

// Concurrent Puts (each with its own idempotency key, retried on UNAVAILABLE and
// DEADLINE_EXCEEDED as a well-behaved client does) and Decrypts of what was acknowledged,
// over long-lived channels to fixed addresses. Calls wait for the channel to be ready
// (within their deadline), which is how a gRPC C-core client rides out a server restart
// (docs/api.md, "Reconnecting").
class FaultLoad {
 public:
  FaultLoad(const Stack& stack, FaultLoadOptions options);
  ~FaultLoad();  // stops
  FaultLoad(const FaultLoad&) = delete;
  FaultLoad& operator=(const FaultLoad&) = delete;

  // Waits until `puts` Puts and `decrypts` Decrypts more than now have been acknowledged;
  // the time it took, or nullopt after `timeout`.
  std::optional<std::chrono::milliseconds> WaitForProgress(std::chrono::milliseconds timeout,
                                                           int puts = 8, int decrypts = 8);
  // Stops the load: every writer finishes (acks or gives up on) the Put it is retrying.
  void Stop();
  FaultLoadCounts counts() const;

  // After Stop, with the service up: checks, through the API, that
  //  - every acknowledged Put decrypts to exactly its bytes at its acknowledged version;
  //  - no idempotency key produced two versions: each name's acknowledged versions rise by
  //    one per Put in between (acknowledged or given up), and its current version is the
  //    last acknowledged one plus at most the Puts given up after it;
  //  - every acknowledged Decrypt has its credential.decrypt event at the sequence it was
  //    given, for that name and request id;
  //  - every org's audit chain verifies.
  // Returns the failures (empty: all held) and prints what it checked.
  std::vector<std::string> CheckInvariants();

 private:
  struct Acked {
    std::string org, name;
    std::uint64_t version = 0;
    std::string secret;
  };
  struct NameHistory {
    std::string org, name;
    // Per Put in order: the acknowledged version, or 0 if given up.
    std::vector<std::uint64_t> versions;
    std::vector<std::string> secrets;
  };
  struct AckedDecrypt {
    std::string org, name, request_id;
    std::uint64_t audit_sequence = 0;
  };

  void Writer(int index);
  void Reader(int index);
  void CountFailure(grpc::StatusCode code, const std::string& what, const std::string& message);

  const Stack stack_;
  const FaultLoadOptions options_;
  std::shared_ptr<grpc::Channel> write_channel_, decrypt_channel_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> puts_acked_{0}, decrypts_acked_{0};
  mutable std::mutex mutex_;
  FaultLoadCounts counts_;              // guarded by mutex_
  std::vector<NameHistory> histories_;  // guarded by mutex_
  std::vector<Acked> readable_;         // guarded by mutex_ (what readers may decrypt)
  std::vector<AckedDecrypt> decrypts_;  // guarded by mutex_
  std::vector<std::thread> threads_;
};

// Rewrites the stack's configuration so that every listener keeps the port it has now, then
// stops the stack's credvaultd with `signal_number` and starts a new one on the same
// addresses, as a restart in place does. "" on success, else why not.
std::string RestartCredvaultdInPlace(int signal_number,
                                     std::chrono::milliseconds down_for = std::chrono::seconds(1));

// The stack's PostgreSQL: `pg_ctl stop -m MODE` (smart, fast or immediate) and `pg_ctl start`
// on the same port and socket directory. "" on success, else pg_ctl's output.
std::string StopPostgres(const Stack& stack, const std::string& mode);
std::string StartPostgres(const Stack& stack);

// VmRSS of process `pid` in KiB, or 0.
long ResidentKiB(pid_t pid);

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_FAULT_LOAD_H_
