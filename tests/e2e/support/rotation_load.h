// Traffic that keeps going through key rotations and rolling replacements of credvaultd:
// writers put new versions, credentials and orgs and read each one back, readers decrypt
// random known versions, and every call that does not return the secret that was put is a
// failure (docs/operations.md, key rotation without downtime).
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_ROTATION_LOAD_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_ROTATION_LOAD_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {

// Every version of every credential the load test put, with its secret.
class Ledger {
 public:
  struct Credential {
    std::string org, name;
    std::map<std::uint64_t, std::string> versions;
  };
  struct Target {
    std::string org, name;
    std::uint64_t version = 0;
    std::string secret;
  };

  std::size_t Add(const std::string& org, const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    credentials_.push_back(Credential{org, name, {}});
    return credentials_.size() - 1;
  }
  void Record(std::size_t index, std::uint64_t version, const std::string& secret) {
    std::lock_guard<std::mutex> lock(mutex_);
    credentials_[index].versions[version] = secret;
  }
  Credential Get(std::size_t index) {
    std::lock_guard<std::mutex> lock(mutex_);
    return credentials_[index];
  }
  // A random version of a random credential; false if none was put yet.
  bool Sample(std::mt19937_64& random, Target* out) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (credentials_.empty()) return false;
    const Credential& credential = credentials_[random() % credentials_.size()];
    if (credential.versions.empty()) return false;
    auto it = credential.versions.begin();
    std::advance(it, static_cast<long>(random() % credential.versions.size()));
    *out = Target{credential.org, credential.name, it->first, it->second};
    return true;
  }
  std::vector<Credential> Snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    return credentials_;
  }

 private:
  std::mutex mutex_;
  std::vector<Credential> credentials_;
};

// Where the load goes. Every call is made between Enter and Leave, so that Switch can wait
// until none is in flight before it moves the load to another credvaultd (which is then
// safe to stop), as a rolling update's load balancer would.
class Router {
 public:
  struct Route {
    int generation = 0;
    std::string write_addr, decrypt_addr;
  };
  explicit Router(const Stack& stack) : route_{0, stack.write_addr, stack.decrypt_addr} {}

  Route Enter() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !switching_; });
    ++in_flight_;
    return route_;
  }
  void Leave() {
    std::lock_guard<std::mutex> lock(mutex_);
    --in_flight_;
    changed_.notify_all();
  }
  void Switch(const Stack& stack) {
    std::unique_lock<std::mutex> lock(mutex_);
    switching_ = true;
    changed_.wait(lock, [&] { return in_flight_ == 0; });
    route_ = Route{route_.generation + 1, stack.write_addr, stack.decrypt_addr};
    switching_ = false;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool switching_ = false;
  int in_flight_ = 0;
  Route route_;
};

// Writers put new versions of their own credentials, new credentials and now and then a
// new org, and read each one back; readers decrypt random known versions. Every outcome

// Writers put new versions of their own credentials, new credentials and now and then a
// new org, and read each one back; readers decrypt random known versions. Every outcome
// other than OK with the expected secret is a failure.
class Load {
 public:
  Load(const Stack& stack, Router& router, Ledger& ledger)
      : stack_(stack), router_(router), ledger_(ledger) {}
  ~Load() { Stop(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  // `owned[t]`: the ledger entries writer t may write new versions of.
  void Start(const std::vector<std::vector<std::size_t>>& owned, int readers);
  void Stop();
  // Waits until both writers and readers have completed more calls.
  bool Progressed();

  int puts() const { return puts_; }
  int decrypts() const { return decrypts_; }
  std::vector<std::string> failures();
  std::vector<std::string> orgs_created();

 private:
  struct Connection {
    int generation = -1;
    std::unique_ptr<Clients> backend, worker;
    void Refresh(const Stack& stack, const Router::Route& route);
  };

  void Fail(const std::string& what);
  // Decrypts a version and compares it with what was put.
  void Check(Connection& connection, const Ledger::Target& target);
  void Write(int t, std::vector<std::size_t> mine);
  void Read(int t);

  const Stack& stack_;
  Router& router_;
  Ledger& ledger_;
  std::atomic<bool> stop_{false};
  std::atomic<int> puts_{0}, decrypts_{0};
  std::mutex mutex_;
  std::vector<std::string> failures_;
  std::vector<std::string> orgs_created_;
  std::vector<std::thread> threads_;
};

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_ROTATION_LOAD_H_
