#include "storage/deadline_watchdog.h"

#include <sys/socket.h>
#include <unistd.h>

#include <array>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace credvault::storage {
namespace {

class SocketPair {
 public:
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_.data()), 0); }
  ~SocketPair() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int ours() const { return fds_[0]; }
  int theirs() const { return fds_[1]; }

 private:
  std::array<int, 2> fds_{-1, -1};
};

TEST(DeadlineWatchdogTest, ShutsDownTheSocketOfARoundTripPastItsDeadline) {
  DeadlineWatchdog watchdog;
  SocketPair pair;
  const absl::Time start = absl::Now();
  DeadlineWatchdog::Watch watch = watchdog.Start(pair.ours(), start + absl::Milliseconds(100));
  // A reply that never comes: the read blocks until the watchdog cuts the socket.
  char byte = 0;
  EXPECT_EQ(::read(pair.ours(), &byte, 1), 0);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(watch.Release());
  EXPECT_TRUE(watch.Release());  // stays answered
}

TEST(DeadlineWatchdogTest, ARoundTripThatEndsInTimeKeepsItsSocket) {
  DeadlineWatchdog watchdog;
  SocketPair pair;
  {
    DeadlineWatchdog::Watch watch =
        watchdog.Start(pair.ours(), absl::Now() + absl::Milliseconds(50));
    ASSERT_EQ(::write(pair.theirs(), "x", 1), 1);
    char byte = 0;
    ASSERT_EQ(::read(pair.ours(), &byte, 1), 1);
    EXPECT_FALSE(watch.Release());
  }
  // Long after that deadline the socket still works: released means never touched.
  absl::SleepFor(absl::Milliseconds(150));
  ASSERT_EQ(::write(pair.theirs(), "y", 1), 1);
  char byte = 0;
  EXPECT_EQ(::read(pair.ours(), &byte, 1), 1);
  EXPECT_EQ(byte, 'y');
}

TEST(DeadlineWatchdogTest, AnEarlierDeadlineArrivingLaterIsStillMet) {
  DeadlineWatchdog watchdog;
  SocketPair far, near;
  DeadlineWatchdog::Watch far_watch = watchdog.Start(far.ours(), absl::Now() + absl::Hours(1));
  const absl::Time start = absl::Now();
  DeadlineWatchdog::Watch near_watch = watchdog.Start(near.ours(), start + absl::Milliseconds(50));
  char byte = 0;
  EXPECT_EQ(::read(near.ours(), &byte, 1), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(near_watch.Release());
  EXPECT_FALSE(far_watch.Release());
}

TEST(DeadlineWatchdogTest, NoDeadlineWatchesNothing) {
  DeadlineWatchdog watchdog;
  SocketPair pair;
  DeadlineWatchdog::Watch watch = watchdog.Start(pair.ours(), absl::InfiniteFuture());
  EXPECT_FALSE(watch.Release());
}

}  // namespace
}  // namespace credvault::storage
