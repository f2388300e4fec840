#ifndef CREDVAULT_SERVER_SERVICE_METADATA_CONVERSION_H_
#define CREDVAULT_SERVER_SERVICE_METADATA_CONVERSION_H_

#include "absl/time/time.h"
#include "credvault/v1/common.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "storage/credential_store.h"

namespace credvault::server {

void SetTimestamp(absl::Time time, google::protobuf::Timestamp& out);
absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp);

// The API view of a stored credential version. `soft_delete_retention` gives purge_time.
credvault::v1::CredentialMetadata ToApiMetadata(const storage::CredentialMetadata& stored,
                                                absl::Duration soft_delete_retention);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_METADATA_CONVERSION_H_
