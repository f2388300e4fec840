#ifndef CREDVAULT_TESTS_CRYPTO_SOFTHSM_TEST_UTIL_H_
#define CREDVAULT_TESTS_CRYPTO_SOFTHSM_TEST_UTIL_H_

#include <string>

namespace credvault::testing {

// A real SoftHSM2 installation private to one test binary: a token directory under a fresh
// temporary directory (below $CREDVAULT_TEST_WORKDIR when set) and SOFTHSM2_CONF pointing
// at a configuration naming it, set before the module is first loaded. Tokens are made
// with softhsm2-util and keys with raw PKCS#11 calls, independently of the code under
// test. Any setup failure aborts the binary with a message: these tests never skip.
class SoftHsm {
 public:
  // The process-wide instance, created on first use and removed at exit.
  static SoftHsm& Get();

  static std::string ModulePath();

  // softhsm2-util --init-token --free.
  void InitToken(const std::string& label, const std::string& so_pin, const std::string& pin);

  // C_GenerateKey(CKM_AES_KEY_GEN) inside the token, as an operator would make a seal key
  // (CKA_TOKEN, CKA_SENSITIVE, not CKA_EXTRACTABLE), unless told otherwise.
  struct KeySpec {
    unsigned long bytes = 32;
    bool sensitive = true;
    bool extractable = false;
  };
  void GenerateAesKey(const std::string& token, const std::string& pin, const std::string& label,
                      const KeySpec& spec);
  void GenerateAesKey(const std::string& token, const std::string& pin, const std::string& label) {
    GenerateAesKey(token, pin, label, KeySpec{});
  }

  // C_SetAttributeValue(CKA_EXTRACTABLE = false) on the one secret key labelled `label`, as
  // an operator would fix an existing key in place (PKCS#11 allows only this direction).
  void MakeUnextractable(const std::string& token, const std::string& pin,
                         const std::string& label);

  // Destroys every secret key labelled `label`.
  void DestroyKeys(const std::string& token, const std::string& pin, const std::string& label);

  // What the token says about one AES key: the result of reading CKA_VALUE (a token keeps a
  // sensitive key's value to itself: CKR_ATTRIBUTE_SENSITIVE) and its flags.
  struct KeyFacts {
    unsigned long read_value_rv = 0;
    bool sensitive = false;
    bool extractable = true;
    bool token_object = false;
    unsigned long value_len = 0;
  };
  KeyFacts InspectKey(const std::string& token, const std::string& pin, const std::string& label);

  const std::string& dir() const { return dir_; }

 private:
  SoftHsm();
  ~SoftHsm();

  std::string dir_;
};

}  // namespace credvault::testing

#endif  // CREDVAULT_TESTS_CRYPTO_SOFTHSM_TEST_UTIL_H_
