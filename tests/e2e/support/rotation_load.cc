#include "tests/e2e/support/rotation_load.h"

#include <chrono>
#include <sstream>

namespace credvault::e2e {
namespace {

// Generous: the machine is kept busy by the load itself and by the rotations under test.
constexpr int kLoadCallSeconds = 60;

}  // namespace

void Load::Start(const std::vector<std::vector<std::size_t>>& owned, int readers) {
  for (std::size_t t = 0; t < owned.size(); ++t) {
    threads_.emplace_back(
        [this, t, mine = owned[t]]() mutable { Write(static_cast<int>(t), mine); });
  }
  for (int t = 0; t < readers; ++t) threads_.emplace_back([this, t] { Read(t); });
}

void Load::Stop() {
  stop_ = true;
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

bool Load::Progressed() {
  const int puts = puts_, decrypts = decrypts_;
  return WaitFor([&] { return puts_ >= puts + 8 && decrypts_ >= decrypts + 20; },
                 std::chrono::minutes(2));
}

std::vector<std::string> Load::failures() {
  std::lock_guard<std::mutex> lock(mutex_);
  return failures_;
}

std::vector<std::string> Load::orgs_created() {
  std::lock_guard<std::mutex> lock(mutex_);
  return orgs_created_;
}

void Load::Connection::Refresh(const Stack& stack, const Router::Route& route) {
  if (route.generation == generation) return;
  backend = std::make_unique<Clients>(TlsChannel(stack, route.write_addr, Caller::Cert("backend")));
  worker = std::make_unique<Clients>(TlsChannel(stack, route.decrypt_addr, Caller::Cert("worker")));
  generation = route.generation;
}

void Load::Fail(const std::string& what) {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_.push_back(what);
}

void Load::Check(Connection& connection, const Ledger::Target& target) {
  const Router::Route route = router_.Enter();
  connection.Refresh(stack_, route);
  v1::DecryptCredentialRequest request;
  request.set_org_id(target.org);
  request.set_name(target.name);
  request.set_version(target.version);
  request.set_purpose("key rotation load");
  v1::DecryptCredentialResponse response;
  const Outcome outcome =
      Call(*connection.worker->access, &v1::CredentialAccessService::Stub::DecryptCredential,
           request, &response, kLoadCallSeconds);
  router_.Leave();
  const std::string what =
      "Decrypt " + target.org + "/" + target.name + " v" + std::to_string(target.version);
  if (!outcome.ok()) {
    std::ostringstream out;
    out << what << ": " << outcome;
    Fail(out.str());
  } else if (response.secret() != target.secret) {
    Fail(what + ": not the secret that was put");
  } else {
    ++decrypts_;
  }
}

void Load::Write(int t, std::vector<std::size_t> mine) {
  std::mt19937_64 random(std::random_device{}());
  Connection connection;
  int names = 0, orgs = 0;
  static const char* const kOrgs[] = {"load-a", "load-a", "load-a", "load-b", "load-c"};
  while (!stop_) {
    const int dice = static_cast<int>(random() % 100);
    std::size_t index = 0;
    std::string org, name;
    if (dice < 2 && orgs < 4) {
      org = "load-new-" + std::to_string(t) + "-" + std::to_string(orgs++);
      name = "first";
      index = ledger_.Add(org, name);
      std::lock_guard<std::mutex> lock(mutex_);
      orgs_created_.push_back(org);
    } else if ((dice < 25 && names < 60) || mine.empty()) {
      org = kOrgs[random() % 5];
      name = "w" + std::to_string(t) + "-" + std::to_string(names++);
      index = ledger_.Add(org, name);
      mine.push_back(index);
    } else {
      index = mine[random() % mine.size()];
      const Ledger::Credential credential = ledger_.Get(index);
      org = credential.org;
      name = credential.name;
    }
    const std::string secret = org + "/" + name + "/" + std::to_string(random());
    const Router::Route route = router_.Enter();
    connection.Refresh(stack_, route);
    v1::PutCredentialResponse response;
    const Outcome outcome =
        Call(*connection.backend->credentials, &v1::CredentialService::Stub::PutCredential,
             PutRequest(org, name, secret), &response, kLoadCallSeconds);
    router_.Leave();
    if (!outcome.ok()) {
      std::ostringstream out;
      out << "Put " << org << "/" << name << ": " << outcome;
      Fail(out.str());
      continue;
    }
    ++puts_;
    ledger_.Record(index, response.credential().version(), secret);
    // Read it back at once.
    Check(connection, Ledger::Target{org, name, response.credential().version(), secret});
  }
}

void Load::Read(int t) {
  std::mt19937_64 random(std::random_device{}() + static_cast<unsigned>(t));
  Connection connection;
  while (!stop_) {
    Ledger::Target target;
    if (!ledger_.Sample(random, &target)) continue;
    Check(connection, target);
  }
}

}  // namespace credvault::e2e
