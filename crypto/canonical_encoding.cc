#include "crypto/canonical_encoding.h"

namespace credvault::crypto {

void AppendU32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

void AppendU64(std::vector<std::uint8_t>& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

std::uint32_t ReadU32(const std::uint8_t* in) {
  return (std::uint32_t{in[0]} << 24) | (std::uint32_t{in[1]} << 16) | (std::uint32_t{in[2]} << 8) |
         std::uint32_t{in[3]};
}

CanonicalEncoder::CanonicalEncoder(std::string_view domain) { AddString(domain); }

void CanonicalEncoder::AddString(std::string_view value) {
  AppendU32(buffer_, static_cast<std::uint32_t>(value.size()));
  buffer_.insert(buffer_.end(), value.begin(), value.end());
}

void CanonicalEncoder::AddBytes(absl::Span<const std::uint8_t> value) {
  AppendU32(buffer_, static_cast<std::uint32_t>(value.size()));
  buffer_.insert(buffer_.end(), value.begin(), value.end());
}

void CanonicalEncoder::AddFixed(absl::Span<const std::uint8_t> value) {
  buffer_.insert(buffer_.end(), value.begin(), value.end());
}

void CanonicalEncoder::AddU8(std::uint8_t value) { buffer_.push_back(value); }

void CanonicalEncoder::AddU32(std::uint32_t value) { AppendU32(buffer_, value); }

void CanonicalEncoder::AddU64(std::uint64_t value) { AppendU64(buffer_, value); }

}  // namespace credvault::crypto
