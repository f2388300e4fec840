#include "tests/e2e/support/row_lock.h"

#include <chrono>

#include "tests/e2e/support/superuser_sql.h"

namespace credvault::e2e {

RowLock::RowLock(const Stack& stack, const std::string& select)
    : stack_(stack), name_("e2e-row-lock-" + RandomHex(4)) {
  const std::string out = stack.dir + "/" + name_ + ".out";
  holder_ = ChildProcess::Start(
      {"/bin/sh", "-c",
       "printf '%s\\n' 'BEGIN;' " + ShellQuote(select + ";") +
           " '\\echo locked' 'SELECT pg_sleep(3600);' 'COMMIT;' | " + SuperuserPsql(stack)},
      {"PATH=/usr/bin:/bin", "PGAPPNAME=" + name_}, out, stack.dir + "/" + name_ + ".err");
  out_ = out;
}

::testing::AssertionResult RowLock::Held() {
  if (holder_ == nullptr) return ::testing::AssertionFailure() << "psql did not start";
  if (WaitFor([&] { return ReadFileOrEmpty(out_).find("locked") != std::string::npos; },
              std::chrono::seconds(30))) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "no lock: " << ReadFileOrEmpty(stack_.dir + "/" + name_ + ".err");
}

bool RowLock::Blocking() const {
  return SuperuserQuery(stack_,
                        "SELECT count(*) FROM pg_stat_activity w, pg_stat_activity h WHERE "
                        "h.application_name = '" +
                            name_ + "' AND h.pid = ANY(pg_blocking_pids(w.pid))") != "0";
}

void RowLock::Release() {
  if (holder_ == nullptr) return;
  SuperuserQuery(
      stack_, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
                  name_ + "'");
  holder_->Wait(std::chrono::seconds(30));
  holder_.reset();
}

}  // namespace credvault::e2e
