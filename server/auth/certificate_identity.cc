#include "server/auth/certificate_identity.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/openssl_handles.h"

namespace credvault::server {
namespace {

absl::Status Unauthenticated(std::string_view why) {
  return absl::UnauthenticatedError(std::string("client certificate: ").append(why));
}

// The bytes of an IA5String SAN, refusing embedded NULs (which could truncate the name in
// C-string consumers and have been used to spoof names).
std::optional<std::string> Ia5Text(const ASN1_IA5STRING* text) {
  const int length = ASN1_STRING_length(text);
  const unsigned char* data = ASN1_STRING_get0_data(text);
  if (length <= 0 || data == nullptr) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(data), static_cast<std::size_t>(length));
  if (out.find('\0') != std::string::npos) return std::nullopt;
  return out;
}

absl::StatusOr<Principal> Checked(std::string id) {
  if (!ValidatePrincipalId(id).ok()) {
    return Unauthenticated("identity is not printable ASCII of at most 1024 characters");
  }
  return Principal{.id = std::move(id), .source = PrincipalSource::kCertificate};
}

bool HasReservedScheme(std::string_view uri) {
  for (std::string_view scheme : {"dns:", "cn:", "token:", "k8s:"}) {
    if (uri.size() >= scheme.size() &&
        absl::EqualsIgnoreCase(std::string(uri.substr(0, scheme.size())), std::string(scheme))) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<Principal> PrincipalFromCertificatePem(std::string_view pem) {
  const ClearOpenSslErrorsOnExit clear_errors;
  if (pem.empty() || pem.size() > INT_MAX) return Unauthenticated("malformed PEM");
  OpenSslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::ResourceExhaustedError("client certificate: out of memory");
  OpenSslPtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return Unauthenticated("malformed PEM");

  OpenSslPtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  std::optional<std::string> first_uri;
  std::optional<std::string> first_dns;
  const int count = names == nullptr ? 0 : sk_GENERAL_NAME_num(names.get());
  for (int i = 0; i < count; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_URI && !first_uri) {
      first_uri = Ia5Text(name->d.uniformResourceIdentifier);
      if (!first_uri) return Unauthenticated("malformed URI SAN");
    } else if (name->type == GEN_DNS && !first_dns) {
      first_dns = Ia5Text(name->d.dNSName);
      if (!first_dns) return Unauthenticated("malformed DNS SAN");
    }
  }
  if (first_uri) {
    if (HasReservedScheme(*first_uri)) {
      return Unauthenticated("URI SAN uses a scheme reserved for other principal kinds");
    }
    return Checked(*std::move(first_uri));
  }
  if (first_dns) return Checked("dns:" + *first_dns);

  const X509_NAME* subject = X509_get_subject_name(cert.get());
  const int cn_index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (cn_index < 0) return Unauthenticated("no URI SAN, DNS SAN or subject CN to identify it");
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, cn_index) >= 0) {
    return Unauthenticated("subject has more than one CN");
  }
  const ASN1_STRING* cn_data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn_index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, cn_data);
  OpenSslPtr<unsigned char> owned(utf8);
  if (length <= 0) return Unauthenticated("malformed subject CN");
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  if (cn.find('\0') != std::string::npos) return Unauthenticated("malformed subject CN");
  return Checked("cn:" + cn);
}

}  // namespace credvault::server
