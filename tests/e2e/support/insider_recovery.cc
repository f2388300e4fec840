#include "tests/e2e/support/insider_recovery.h"

#include <dirent.h>

#include <algorithm>
#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/envelope.h"
#include "crypto/key_directory.h"
#include "crypto/key_file.h"
#include "crypto/key_file_seal_key_provider.h"
#include "crypto/org_key.h"
#include "crypto/root_key.h"
#include "crypto/sealed_box.h"
#include "crypto/writer_key_ring.h"

namespace credvault::e2e {
namespace {

std::uint32_t ToU32(const std::string& text) {
  return static_cast<std::uint32_t>(std::stoul(text));
}

}  // namespace

Recovery Recover(const DatabaseCopy& copy, const std::string& keys_dir, const std::string& org) {
  Recovery result;
  // Every key file: each one is tried as the seal key; writer-N.key is writer key version N,
  // key-directory-N.key the key directory signing key version N, whose public half the
  // insider pins to check org key records as the write tier would.
  std::vector<std::unique_ptr<crypto::KeyFileSealKeyProvider>> seal_candidates;
  std::vector<std::pair<std::uint32_t, crypto::KeyBuffer>> writer_keys;
  crypto::KeyDirectoryPins directory_pins;
  std::uint32_t current_writer = 0;
  DIR* dir = ::opendir(keys_dir.c_str());
  if (dir == nullptr) {
    result.problems.push_back("cannot list " + keys_dir);
    return result;
  }
  std::vector<std::string> files;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") files.push_back(name);
  }
  ::closedir(dir);
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    const std::string path = keys_dir + "/" + file;
    absl::StatusOr<std::unique_ptr<crypto::KeyFileSealKeyProvider>> seal =
        crypto::KeyFileSealKeyProvider::Open(path);
    if (seal.ok()) seal_candidates.push_back(*std::move(seal));
    if (file.rfind("writer-", 0) == 0) {
      const std::uint32_t version = ToU32(file.substr(7, file.find('.') - 7));
      absl::StatusOr<crypto::KeyBuffer> key = crypto::ReadKeyFile(path, crypto::kWriterKeySize);
      if (!key.ok()) {
        result.problems.push_back(file + ": " + std::string(key.status().message()));
        continue;
      }
      writer_keys.emplace_back(version, *std::move(key));
      current_writer = std::max(current_writer, version);
    }
    constexpr std::string_view kDirectoryPrefix = "key-directory-";
    if (file.rfind(kDirectoryPrefix, 0) == 0) {
      const std::size_t digits = kDirectoryPrefix.size();
      const std::uint32_t version = ToU32(file.substr(digits, file.find('.') - digits));
      absl::StatusOr<crypto::KeyBuffer> seed =
          crypto::ReadKeyFile(path, crypto::kKeyDirectorySeedSize);
      absl::StatusOr<crypto::KeyDirectorySigner> signer =
          seed.ok() ? crypto::KeyDirectorySigner::FromSeed(version, *seed)
                    : absl::StatusOr<crypto::KeyDirectorySigner>(seed.status());
      if (!signer.ok()) {
        result.problems.push_back(file + ": " + std::string(signer.status().message()));
        continue;
      }
      if (absl::Status pinned = directory_pins.Add(version, signer->public_key()); !pinned.ok()) {
        result.problems.push_back(file + ": " + std::string(pinned.message()));
      }
    }
  }
  if (directory_pins.empty()) {
    result.problems.push_back("no key directory key in " + keys_dir);
    return result;
  }
  absl::StatusOr<crypto::WriterKeyRing> ring =
      crypto::WriterKeyRing::New(current_writer, std::move(writer_keys));
  if (!ring.ok()) {
    result.problems.push_back("writer keys: " + std::string(ring.status().message()));
    return result;
  }

  std::map<std::uint32_t, crypto::RootPrivateKey> roots;
  for (const RootKeyRow& row : copy.root_keys) {
    crypto::SealedRootKey sealed;
    sealed.version = row.version;
    if (row.public_key.size() != sealed.public_key.size()) continue;
    std::copy(row.public_key.begin(), row.public_key.end(), sealed.public_key.begin());
    sealed.wrapped_private_key = row.sealed_private_key;
    sealed.seal_key_id = row.seal_key_id;
    for (const auto& seal : seal_candidates) {
      absl::StatusOr<crypto::RootPrivateKey> root = crypto::UnsealRootKey(sealed, *seal);
      if (!root.ok()) continue;
      roots.emplace(row.version, *std::move(root));
      result.root_keys_unwrapped.insert(row.version);
      break;
    }
  }

  // Every org private key still sealed anywhere in the copy, of every org.
  std::vector<crypto::OrgPrivateKey> org_keys;
  for (const OrgKeyRow& row : copy.org_keys) {
    if (!row.sealed_private_key) continue;
    crypto::OrgKeyRecord record;
    record.org_id = row.org_id;
    record.key_version = row.version;
    record.root_key_version = row.root_key_version;
    record.sealed_private_key = *row.sealed_private_key;
    absl::StatusOr<crypto::OrgKeyState> state = crypto::ParseOrgKeyState(row.state);
    if (!state.ok() || row.public_key.size() != record.public_key.size() ||
        row.signature.size() != record.signature.size()) {
      result.problems.push_back("malformed or unsigned org key row " + At(row.org_id, row.version));
      continue;
    }
    record.state = *state;
    record.directory_key_version = row.directory_key_version;
    std::copy(row.public_key.begin(), row.public_key.end(), record.public_key.begin());
    std::copy(row.signature.begin(), row.signature.end(), record.signature.begin());
    const auto root = roots.find(row.root_key_version);
    if (root == roots.end()) {
      result.problems.push_back("no root key " + std::to_string(row.root_key_version) +
                                " for org key " + At(row.org_id, row.version));
      continue;
    }
    absl::StatusOr<crypto::OrgPrivateKey> key =
        crypto::UnsealOrgPrivateKey(record, root->second, directory_pins);
    if (!key.ok()) {
      result.problems.push_back("org key " + At(row.org_id, row.version) + ": " +
                                std::string(key.status().message()));
      continue;
    }
    result.org_keys_unsealed.insert(At(row.org_id, row.version));
    org_keys.push_back(*std::move(key));
  }

  for (const CredentialRow& row : copy.CredentialsOf(org)) {
    if (!row.envelope) continue;
    ++result.envelopes;
    const std::string where = At(row.name, row.version);
    absl::StatusOr<crypto::ParsedEnvelope> parsed =
        crypto::ParseEnvelope(*row.envelope, crypto::kMaxSecretSizeLimit);
    if (!parsed.ok()) {
      result.problems.push_back(where + ": " + std::string(parsed.status().message()));
      continue;
    }
    const crypto::CredentialBinding binding{org, row.name, row.version};
    const auto own = std::find_if(org_keys.begin(), org_keys.end(), [&](const auto& key) {
      return key.org_id() == org && key.key_version() == parsed->org_key_version;
    });
    if (own != org_keys.end()) {
      absl::StatusOr<crypto::SecretBytes> plaintext =
          crypto::OpenEnvelope(*parsed, binding, *own, *ring);
      if (plaintext.ok()) {
        const auto bytes = plaintext->RevealSecret();
        result.recovered[where] = std::string(bytes.begin(), bytes.end());
      } else {
        result.problems.push_back(where + ": " + std::string(plaintext.status().message()));
      }
      continue;
    }
    // The key the envelope names is gone: every other private key there is, on its DEK.
    for (const crypto::OrgPrivateKey& key : org_keys) {
      if (crypto::OpenSealed(parsed->sealed_dek, key.public_key(), key.private_key()).ok()) {
        result.data_keys_opened.push_back(where + " by org key " +
                                          At(key.org_id(), key.key_version()));
      }
    }
    for (const auto& [version, root] : roots) {
      if (crypto::OpenSealed(parsed->sealed_dek, root.public_key(), root.private_key()).ok()) {
        result.data_keys_opened.push_back(where + " by root key " + std::to_string(version));
      }
    }
  }
  return result;
}

}  // namespace credvault::e2e
