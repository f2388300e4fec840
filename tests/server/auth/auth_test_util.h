#ifndef CREDVAULT_TESTS_SERVER_AUTH_AUTH_TEST_UTIL_H_
#define CREDVAULT_TESTS_SERVER_AUTH_AUTH_TEST_UTIL_H_

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"

namespace credvault::server::testing {

// A private temporary directory, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "credvault-auth.XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

inline void WriteAll(const std::string& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << contents;
}

// A self-signed certificate (PEM) made by the openssl command line tool, as an operator's
// CA tooling would make one. `subject` like "/CN=legacy-client" (or "/O=x" for no CN);
// `san` like "URI:spiffe://example.org/backend,DNS:worker.example.org", or empty.
inline std::string MakeCertificate(const TempDir& dir, const std::string& subject,
                                   const std::string& san) {
  const std::string key = dir.File("key.pem");
  const std::string cert = dir.File("cert.pem");
  std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      "-days 1 -utf8 -keyout '" +
      key + "' -out '" + cert + "' -subj '" + subject + "'";
  if (!san.empty()) command += " -addext 'subjectAltName=" + san + "'";
  command += " 2>/dev/null";
  std::filesystem::remove(cert);
  if (std::system(command.c_str()) != 0) {
    ADD_FAILURE() << "openssl failed: " << command;
    return "";
  }
  return ReadAll(cert);
}

}  // namespace credvault::server::testing

#endif  // CREDVAULT_TESTS_SERVER_AUTH_AUTH_TEST_UTIL_H_
