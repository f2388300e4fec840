// Page tokens (server/service/page_token.h): DecodePageToken on arbitrary client text under the
// fixed writer keys (tests/fuzz/fuzz_keys.h), so that the valid tokens among the seeds get
// past the MAC, plus the round trip of any cursor through EncodePageToken.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "server/service/page_token.h"
#include "tests/fuzz/fuzz_keys.h"

namespace {

using ::credvault::server::DecodePageToken;
using ::credvault::server::EncodePageToken;
using ::credvault::server::PageQuery;

const credvault::crypto::WriterKeyRing* keys = nullptr;

void Check(bool condition) {
  if (!condition) std::abort();
}

// The query of the seeds' tokens (make_fuzz_seeds.cc): ListCredentials as the credential
// handler builds it, for the fuzz org, no prefix, no labels, live credentials only.
PageQuery SeedQuery() {
  PageQuery query("ListCredentials");
  query.Add(credvault::fuzz::kFuzzOrg)
      .Add(std::string_view())
      .Add(std::map<std::string, std::string>())
      .Add(std::uint64_t{0});
  return query;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  keys = new credvault::crypto::WriterKeyRing(credvault::fuzz::FuzzWriterKeys());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const PageQuery query = SeedQuery();

  absl::StatusOr<std::string> cursor = DecodePageToken(*keys, query, "page_token", text);
  if (cursor.ok()) {
    // Only a token this service issued decodes, and only for its own query.
    Check(DecodePageToken(*keys, query, "page_token", EncodePageToken(*keys, query, *cursor))
              .value_or("") == *cursor);
    PageQuery other = SeedQuery();
    other.Add(std::uint64_t{1});
    Check(!DecodePageToken(*keys, other, "page_token", text).ok());
  } else {
    Check(cursor.status().code() == absl::StatusCode::kInvalidArgument);
  }

  // Any cursor a listing can end on (a name, or a sequence number) comes back unchanged.
  if (size <= 1024) {
    const std::string token = EncodePageToken(*keys, query, text);
    absl::StatusOr<std::string> back = DecodePageToken(*keys, query, "page_token", token);
    Check(back.ok() && *back == text);
  }
  return 0;
}
