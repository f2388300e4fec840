#ifndef CREDVAULT_SERVER_APP_RESEAL_WORKER_THREAD_H_
#define CREDVAULT_SERVER_APP_RESEAL_WORKER_THREAD_H_

#include <memory>
#include <thread>

#include "server/jobs/reseal_worker.h"

namespace credvault::server {

// The decrypt tier's re-seal worker on a thread of its own, stopped and joined when this
// object goes, on every way out of the process.
class ResealWorkerThread {
 public:
  ResealWorkerThread() = default;
  ~ResealWorkerThread();
  ResealWorkerThread(const ResealWorkerThread&) = delete;
  ResealWorkerThread& operator=(const ResealWorkerThread&) = delete;

  // Runs `worker` until this object goes. At most once.
  void Start(std::unique_ptr<ResealWorker> worker);
  // Looks for new jobs at once (e.g. after a key rotation started one). Only after Start().
  void Wake();

 private:
  std::unique_ptr<ResealWorker> worker_;
  std::thread thread_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_RESEAL_WORKER_THREAD_H_
