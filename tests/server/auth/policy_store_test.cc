// Policy reloads: atomic swaps, failed reloads keep the old policy, readers never block or
// see a torn policy. Run under the sanitizers (scripts/test.sh) and ThreadSanitizer.
#include "server/auth/policy_store.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/auth/auth_test_util.h"

namespace credvault::server {
namespace {

using ::credvault::server::testing::TempDir;
using ::credvault::server::testing::WriteAll;
using ::testing::HasSubstr;

const Principal kBackend{.id = "spiffe://example.org/backend",
                         .source = PrincipalSource::kCertificate};

std::string PolicyFor(const std::string& org) {
  return "principals:\n  - id: \"spiffe://example.org/backend\"\n    roles: [writer]\n    orgs: [" +
         org + "]\n";
}

// Writes through a temporary file and rename, as a ConfigMap update does, so a reload never
// reads a half-written file.
void Replace(const TempDir& dir, const std::string& contents) {
  WriteAll(dir.File("policy.yaml.tmp"), contents);
  std::rename(dir.File("policy.yaml.tmp").c_str(), dir.File("policy.yaml").c_str());
}

TEST(PolicyStoreTest, OpenFailsOnABadFile) {
  TempDir dir;
  EXPECT_EQ(PolicyStore::Open(dir.File("missing.yaml")).status().code(),
            absl::StatusCode::kNotFound);
  Replace(dir, "principals:\n  - idd: x\n");
  const absl::Status status = PolicyStore::Open(dir.File("policy.yaml")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("principals[0].idd: unknown key"));
}

TEST(PolicyStoreTest, ReloadSwapsAndABadFileKeepsTheOldPolicy) {
  TempDir dir;
  Replace(dir, PolicyFor("org-a"));
  absl::StatusOr<std::unique_ptr<PolicyStore>> store = PolicyStore::Open(dir.File("policy.yaml"));
  ASSERT_TRUE(store.ok()) << store.status();
  const std::shared_ptr<const Policy> before = (*store)->Snapshot();
  EXPECT_TRUE(before->Authorize(kBackend, Role::kWriter, "org-a").ok());

  Replace(dir, PolicyFor("org-b"));
  ASSERT_TRUE((*store)->Reload().ok());
  EXPECT_TRUE((*store)->Snapshot()->Authorize(kBackend, Role::kWriter, "org-b").ok());
  EXPECT_FALSE((*store)->Snapshot()->Authorize(kBackend, Role::kWriter, "org-a").ok());
  // A request that took its snapshot earlier still decides with the policy it started with.
  EXPECT_TRUE(before->Authorize(kBackend, Role::kWriter, "org-a").ok());

  Replace(dir, PolicyFor("org-c") + "  - oops\n");
  const absl::Status failed = (*store)->Reload();
  EXPECT_EQ(failed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(failed.message()), HasSubstr("principals[1]"));
  EXPECT_TRUE((*store)->Snapshot()->Authorize(kBackend, Role::kWriter, "org-b").ok());

  std::remove(dir.File("policy.yaml").c_str());
  EXPECT_EQ((*store)->Reload().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE((*store)->Snapshot()->Authorize(kBackend, Role::kWriter, "org-b").ok());
}

TEST(PolicyStoreTest, FixedPolicyCannotReload) {
  const std::unique_ptr<PolicyStore> store = PolicyStore::WithPolicy(Policy());
  EXPECT_EQ(store->Reload().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(store->Snapshot()->Authorize(kBackend, Role::kWriter, "org-a").ok());
}

// Readers hammer Authorize while another thread alternates good and bad reloads. Every
// decision must come from one whole policy: exactly one of org-a and org-b is allowed.
TEST(PolicyStoreTest, ConcurrentReadersDuringReloads) {
  TempDir dir;
  Replace(dir, PolicyFor("org-a"));
  absl::StatusOr<std::unique_ptr<PolicyStore>> opened = PolicyStore::Open(dir.File("policy.yaml"));
  ASSERT_TRUE(opened.ok()) << opened.status();
  PolicyStore& store = **opened;

  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<long> decisions{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        const std::shared_ptr<const Policy> policy = store.Snapshot();
        const bool a = policy->Authorize(kBackend, Role::kWriter, "org-a").ok();
        const bool b = policy->Authorize(kBackend, Role::kWriter, "org-b").ok();
        if (a == b) torn.fetch_add(1);
        decisions.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  int good_reloads = 0;
  for (int i = 0; i < 200; ++i) {
    if (i % 3 == 2) {
      Replace(dir, "principals: [not-a-mapping]\n");
      EXPECT_FALSE(store.Reload().ok());
    } else {
      Replace(dir, PolicyFor(i % 2 == 0 ? "org-b" : "org-a"));
      ASSERT_TRUE(store.Reload().ok());
      ++good_reloads;
    }
  }
  // Concurrent reloads serialise too.
  std::thread other_reloader([&] {
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(store.Reload().code() != absl::StatusCode::kInternal);
  });
  other_reloader.join();
  stop = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(decisions.load(), 0);
  EXPECT_GT(good_reloads, 100);
}

}  // namespace
}  // namespace credvault::server
