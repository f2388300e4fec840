#ifndef CREDVAULT_CLI_AUDIT_PUBLIC_KEY_H_
#define CREDVAULT_CLI_AUDIT_PUBLIC_KEY_H_

// Reading an audit signing public key that a verifier pins (audit verify --public-key).
// Accepted, with surrounding whitespace ignored:
//   * 64 hex digits (either case);
//   * the standard base64 of the 32 bytes, as AuditSigningKey.public_key appears in JSON;
//   * an AuditSigningKey as proto3 JSON ({"key_id":...,"public_key":...}), alone or as the
//     {"signing_key":{...}} line of an export; its key_id, when present, must be the id of
//     its public key.
// The key is public, but a file given by mistake may hold the private seed, so errors
// never show the content.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/audit_signer.h"

namespace credvault::cli {

// INVALID_ARGUMENT when `text` is none of the accepted forms.
absl::StatusOr<crypto::AuditSigningPublicKey> ParseAuditPublicKey(absl::string_view text);

// ParseAuditPublicKey on the file's content; errors name the path.
absl::StatusOr<crypto::AuditSigningPublicKey> ReadAuditPublicKeyFile(const std::string& path);

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_AUDIT_PUBLIC_KEY_H_
