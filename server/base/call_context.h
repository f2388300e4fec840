#ifndef CREDVAULT_SERVER_BASE_CALL_CONTEXT_H_
#define CREDVAULT_SERVER_BASE_CALL_CONTEXT_H_

#include <string>

#include "absl/time/time.h"

namespace credvault::server {

// What a handler knows about the call it serves, once the caller is authenticated and
// authorised. Plain data, so handlers are testable without gRPC.
struct CallContext {
  std::string principal;   // e.g. "spiffe://example.org/backend" or "token:ci"
  std::string request_id;  // logged and audited with everything the call does
  absl::Time deadline = absl::InfiniteFuture();
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_BASE_CALL_CONTEXT_H_
