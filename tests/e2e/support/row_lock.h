// A superuser session that holds row locks until released, so that whatever credvaultd
// does with one of those rows waits inside the database: a fixed place to catch a re-seal
// job in the middle of a batch, whatever the machine's speed.
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_ROW_LOCK_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_ROW_LOCK_H_

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {

class RowLock {
 public:
  // `select` is a SELECT ... FOR UPDATE; it runs in a transaction left open.
  RowLock(const Stack& stack, const std::string& select);
  ~RowLock() { Release(); }
  RowLock(const RowLock&) = delete;
  RowLock& operator=(const RowLock&) = delete;

  // Waits until the rows are locked.
  ::testing::AssertionResult Held();
  // Whether another session (a credvaultd one) waits for one of the held rows.
  bool Blocking() const;
  // Ends the session, and so the transaction and its locks.
  void Release();

 private:
  const Stack& stack_;
  const std::string name_;
  std::string out_;
  std::unique_ptr<ChildProcess> holder_;
};

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_ROW_LOCK_H_
