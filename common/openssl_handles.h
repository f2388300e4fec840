#ifndef CREDVAULT_COMMON_OPENSSL_HANDLES_H_
#define CREDVAULT_COMMON_OPENSSL_HANDLES_H_

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace credvault {

// Owning handles for the OpenSSL objects credvault parses certificates and keys with, so
// that every early return frees them.
struct OpenSslDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
  void operator()(X509* cert) const { X509_free(cert); }
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
  // Buffers OpenSSL allocated for the caller (BN_bn2hex, ASN1_STRING_to_UTF8).
  void operator()(char* text) const { OPENSSL_free(text); }
  void operator()(unsigned char* bytes) const { OPENSSL_free(bytes); }
};

template <typename T>
using OpenSslPtr = std::unique_ptr<T, OpenSslDeleter>;

// OpenSSL leaves failures in a per-thread error queue that gRPC's TLS code, running later
// on the same thread, would mistake for its own: whoever calls OpenSSL clears it on every
// exit path.
struct ClearOpenSslErrorsOnExit {
  ClearOpenSslErrorsOnExit() = default;
  ClearOpenSslErrorsOnExit(const ClearOpenSslErrorsOnExit&) = delete;
  ClearOpenSslErrorsOnExit& operator=(const ClearOpenSslErrorsOnExit&) = delete;
  ~ClearOpenSslErrorsOnExit() { ERR_clear_error(); }
};

}  // namespace credvault

#endif  // CREDVAULT_COMMON_OPENSSL_HANDLES_H_
