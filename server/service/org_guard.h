#ifndef CREDVAULT_SERVER_SERVICE_ORG_GUARD_H_
#define CREDVAULT_SERVER_SERVICE_ORG_GUARD_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/org_store.h"
#include "storage/pool.h"

// The one way every handler refuses a request for an org that does not exist or is
// destroyed: the same codes, reasons and messages from every RPC (docs/api.md), decided on
// the stored org record, never on an API message.
namespace credvault::server {

// NOT_FOUND, reason ORG_NOT_FOUND: "org <id> does not exist".
absl::Status OrgNotFoundError(std::string_view org_id);

// FAILED_PRECONDITION, reason ORG_DESTROYED: "org <id> is destroyed", then "; <consequence>"
// when one is given (DecryptCredential says its secrets are gone).
absl::Status OrgDestroyedError(std::string_view org_id, std::string_view consequence = {});

// The org of `tx`: OrgNotFoundError when it does not exist; other storage errors as they are.
absl::StatusOr<storage::Org> LoadExistingOrg(const storage::OrgStore& orgs,
                                             storage::Transaction& tx);

// OrgDestroyedError unless `org` is active.
absl::Status CheckNotDestroyed(const storage::Org& org);

// Ok only when the org of `tx` exists and is active; the refusals above otherwise. Read
// first by every request on an org's data, so that a destroyed org answers the same way
// whatever is asked of it, and a missing org is told apart from a missing credential.
absl::Status RequireActiveOrg(const storage::OrgStore& orgs, storage::Transaction& tx);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_ORG_GUARD_H_
