#include "server/app/reseal_worker_thread.h"

#include <utility>

namespace credvault::server {

ResealWorkerThread::~ResealWorkerThread() {
  if (worker_) worker_->Stop();
  if (thread_.joinable()) thread_.join();
}

void ResealWorkerThread::Start(std::unique_ptr<ResealWorker> worker) {
  if (worker_) return;
  worker_ = std::move(worker);
  thread_ = std::thread([worker = worker_.get()] { worker->Run(); });
}

void ResealWorkerThread::Wake() { worker_->Wake(); }

}  // namespace credvault::server
