#include "crypto/writer_key_ring.h"

#include <string>

#include "crypto/blake2b.h"
#include "crypto/internal/writer_key_access.h"

namespace credvault::crypto {

absl::StatusOr<WriterKeyRing> WriterKeyRing::New(
    std::uint32_t current_version, std::vector<std::pair<std::uint32_t, KeyBuffer>> keys) {
  std::map<std::uint32_t, KeyBuffer> by_version;
  for (auto& [version, key] : keys) {
    if (version == 0) {
      return absl::InvalidArgumentError("writer key versions start at 1");
    }
    if (key.size() != kWriterKeySize) {
      return absl::InvalidArgumentError("writer key version " + std::to_string(version) +
                                        " must be 32 bytes");
    }
    if (!by_version.emplace(version, std::move(key)).second) {
      return absl::InvalidArgumentError("writer key version " + std::to_string(version) +
                                        " given twice");
    }
  }
  if (by_version.count(current_version) == 0) {
    return absl::InvalidArgumentError("current writer key version " +
                                      std::to_string(current_version) + " has no key");
  }
  return WriterKeyRing(current_version, std::move(by_version));
}

absl::StatusOr<const KeyBuffer*> WriterKeyRing::KeyForVersion(std::uint32_t version) const {
  const auto it = keys_.find(version);
  if (it == keys_.end()) {
    return absl::NotFoundError("unknown writer key version " + std::to_string(version));
  }
  return &it->second;
}

const KeyBuffer& WriterKeyRing::CurrentKey() const { return keys_.at(current_version_); }

WriterTag AuthenticateWithCurrentKey(const WriterKeyRing& ring, MessageParts message) {
  Blake2bHasher mac(internal::WriterKeyAccess::CurrentKey(ring));
  for (const absl::Span<const std::uint8_t> part : message) mac.Update(part);
  return WriterTag{ring.current_version(), mac.Finish()};
}

absl::Status VerifyWriterTag(const WriterKeyRing& ring, MessageParts message, const WriterTag& tag,
                             const char* what) {
  const absl::StatusOr<const KeyBuffer*> key =
      internal::WriterKeyAccess::KeyForVersion(ring, tag.key_version);
  if (!key.ok()) {
    return absl::DataLossError(std::string(what) +
                               " is authenticated with unknown writer key version " +
                               std::to_string(tag.key_version));
  }
  Blake2bHasher mac(**key);
  for (const absl::Span<const std::uint8_t> part : message) mac.Update(part);
  const Blake2b256 expected = mac.Finish();
  if (!ConstantTimeEquals(expected, tag.mac)) {
    return absl::DataLossError(std::string(what) + " failed its integrity check");
  }
  return absl::OkStatus();
}

}  // namespace credvault::crypto
