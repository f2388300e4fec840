#include "server/auth/policy_store.h"

#include <utility>

namespace credvault::server {

absl::StatusOr<std::unique_ptr<PolicyStore>> PolicyStore::Open(
    const std::string& path,
    std::shared_ptr<const ServiceAccountTokenVerifier> service_account_tokens) {
  absl::StatusOr<Policy> policy = Policy::LoadFile(path);
  if (!policy.ok()) return policy.status();
  policy->set_service_account_tokens(service_account_tokens);
  return std::unique_ptr<PolicyStore>(new PolicyStore(
      path, std::make_shared<const Policy>(*std::move(policy)), std::move(service_account_tokens)));
}

std::unique_ptr<PolicyStore> PolicyStore::WithPolicy(Policy policy) {
  return std::unique_ptr<PolicyStore>(
      new PolicyStore("", std::make_shared<const Policy>(std::move(policy)), nullptr));
}

std::shared_ptr<const Policy> PolicyStore::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

absl::Status PolicyStore::Reload() {
  if (path_.empty()) {
    return absl::FailedPreconditionError("this policy store has no policy file to reload");
  }
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  absl::StatusOr<Policy> policy = Policy::LoadFile(path_);
  if (!policy.ok()) return policy.status();
  policy->set_service_account_tokens(service_account_tokens_);
  std::shared_ptr<const Policy> next = std::make_shared<const Policy>(*std::move(policy));
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_.swap(next);
  }
  // `next` now holds the old policy; it is freed here, outside the lock, unless a request
  // still holds it, in which case that request frees it when done.
  return absl::OkStatus();
}

}  // namespace credvault::server
