#ifndef CREDVAULT_SERVER_SERVICE_PAGE_TOKEN_H_
#define CREDVAULT_SERVER_SERVICE_PAGE_TOKEN_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/writer_key_ring.h"

namespace credvault::server {

// Opaque page tokens: a cursor (the last name or sequence number returned), authenticated
// together with the query it belongs to by the writer key, so every replica of either tier
// accepts them and no client can forge, alter or reuse one for another org, RPC or
// filter. Base64url of
//   0x01 || u32 writer key version || u32 cursor length || cursor || 32-byte MAC.
//
// `query` identifies the listing: an unambiguous encoding of the RPC, the org and every
// filter (PageQuery builds one).

// Builds the `query` of a page token: the RPC name, then each filter as it was requested.
class PageQuery {
 public:
  explicit PageQuery(std::string_view rpc);
  PageQuery& Add(std::string_view value);
  PageQuery& Add(std::uint64_t value);
  PageQuery& Add(const std::map<std::string, std::string>& values);
  const std::string& encoded() const { return encoded_; }

 private:
  std::string encoded_;
};

std::string EncodePageToken(const crypto::WriterKeyRing& keys, const PageQuery& query,
                            std::string_view cursor);

// The cursor encoded in `token`; INVALID_ARGUMENT (reason INVALID_PAGE_TOKEN) naming
// `field` when the token is malformed, altered, or from another query.
absl::StatusOr<std::string> DecodePageToken(const crypto::WriterKeyRing& keys,
                                            const PageQuery& query, std::string_view field,
                                            std::string_view token);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_PAGE_TOKEN_H_
