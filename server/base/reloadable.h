#ifndef CREDVAULT_SERVER_BASE_RELOADABLE_H_
#define CREDVAULT_SERVER_BASE_RELOADABLE_H_

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace credvault::server {

// A value that a configuration reload (SIGHUP) can replace while requests use it. A request
// takes one snapshot with Get() and uses it throughout, so it never mixes two versions.
// Copies share the value (a handle), so a struct holding one stays movable.
template <typename T>
class Reloadable {
 public:
  // Implicit, so that aggregates holding a Reloadable are built from a plain T.
  Reloadable(T initial)  // NOLINT(google-explicit-constructor)
      : state_(std::make_shared<State>(std::make_shared<const T>(std::move(initial)))) {}

  std::shared_ptr<const T> Get() const {
    absl::MutexLock lock(&state_->mutex);
    return state_->current;
  }

  void Replace(T next) const {
    auto value = std::make_shared<const T>(std::move(next));
    absl::MutexLock lock(&state_->mutex);
    state_->current = std::move(value);
  }

 private:
  struct State {
    explicit State(std::shared_ptr<const T> value) : current(std::move(value)) {}
    absl::Mutex mutex;
    std::shared_ptr<const T> current ABSL_GUARDED_BY(mutex);
  };
  std::shared_ptr<State> state_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_BASE_RELOADABLE_H_
