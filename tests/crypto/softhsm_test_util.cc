#include "tests/crypto/softhsm_test_util.h"

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#ifndef CREDVAULT_SOFTHSM2_MODULE
#error "CREDVAULT_SOFTHSM2_MODULE must name the SoftHSM2 PKCS#11 library"
#endif

namespace credvault::testing {
namespace {

[[noreturn]] void Fatal(const std::string& message) {
  std::cerr << "FATAL (SoftHSM2 test setup): " << message << "\n"
            << "These tests need a real SoftHSM2 token: install the Debian package softhsm2 "
               "(scripts/bootstrap.sh does).\n";
  std::abort();
}

void Check(CK_RV rv, const std::string& what) {
  if (rv != CKR_OK) Fatal(what + " failed with CKR 0x" + std::to_string(rv));
}

// A raw PKCS#11 session with one token, logged in as the user, for test setup only. The
// module is initialised here unless code under test already holds it initialised.
class RawSession {
 public:
  RawSession(const std::string& token, const std::string& pin) {
    void* handle = dlopen(SoftHsm::ModulePath().c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) Fatal(std::string("dlopen: ") + dlerror());
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
    if (get == nullptr) Fatal("no C_GetFunctionList");
    Check(get(&fn_), "C_GetFunctionList");
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    const CK_RV rv = fn_->C_Initialize(&args);
    if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) Check(rv, "C_Initialize");
    finalize_ = rv == CKR_OK;
    CK_ULONG count = 0;
    Check(fn_->C_GetSlotList(CK_TRUE, nullptr, &count), "C_GetSlotList");
    std::vector<CK_SLOT_ID> slots(count);
    Check(fn_->C_GetSlotList(CK_TRUE, slots.data(), &count), "C_GetSlotList");
    CK_SLOT_ID found = 0;
    bool any = false;
    for (CK_ULONG i = 0; i < count; ++i) {
      CK_TOKEN_INFO info{};
      Check(fn_->C_GetTokenInfo(slots[i], &info), "C_GetTokenInfo");
      std::string label(reinterpret_cast<const char*>(info.label), sizeof(info.label));
      label.erase(label.find_last_not_of(' ') + 1);
      if (label == token) {
        found = slots[i];
        any = true;
      }
    }
    if (!any) Fatal("no token " + token);
    Check(
        fn_->C_OpenSession(found, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session_),
        "C_OpenSession");
    std::string pin_copy = pin;
    const CK_RV login = fn_->C_Login(
        session_, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin_copy.data()), pin_copy.size());
    if (login != CKR_USER_ALREADY_LOGGED_IN) Check(login, "C_Login");
  }
  ~RawSession() {
    fn_->C_CloseSession(session_);
    if (finalize_) fn_->C_Finalize(nullptr);
  }

  CK_FUNCTION_LIST_PTR fn() const { return fn_; }
  CK_SESSION_HANDLE session() const { return session_; }

  std::vector<CK_OBJECT_HANDLE> FindSecretKeys(const std::string& label) {
    CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
    std::string label_copy = label;
    CK_ATTRIBUTE match[] = {
        {CKA_CLASS, &key_class, sizeof(key_class)},
        {CKA_LABEL, label_copy.data(), label_copy.size()},
    };
    Check(fn_->C_FindObjectsInit(session_, match, 2), "C_FindObjectsInit");
    std::vector<CK_OBJECT_HANDLE> found(16);
    CK_ULONG count = 0;
    Check(fn_->C_FindObjects(session_, found.data(), found.size(), &count), "C_FindObjects");
    fn_->C_FindObjectsFinal(session_);
    found.resize(count);
    return found;
  }

 private:
  CK_FUNCTION_LIST_PTR fn_ = nullptr;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  bool finalize_ = false;
};

}  // namespace

SoftHsm& SoftHsm::Get() {
  static SoftHsm* const instance = [] {
    auto* made = new SoftHsm();
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(Get().dir_, ignored);
    });
    return made;
  }();
  return *instance;
}

std::string SoftHsm::ModulePath() { return CREDVAULT_SOFTHSM2_MODULE; }

SoftHsm::SoftHsm() {
  if (!std::filesystem::exists(ModulePath())) Fatal(ModulePath() + " does not exist");
  const char* base = std::getenv("CREDVAULT_TEST_WORKDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/credvault-softhsm.XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) Fatal("mkdtemp " + pattern);
  dir_ = pattern;
  std::filesystem::create_directory(dir_ + "/tokens");
  const std::string conf = dir_ + "/softhsm2.conf";
  std::ofstream(conf) << "directories.tokendir = " << dir_ << "/tokens\n"
                      << "objectstore.backend = file\n"
                      << "log.level = ERROR\n"
                      << "slots.removable = false\n";
  // Before any C_Initialize of this process: SoftHSM2 reads it there.
  setenv("SOFTHSM2_CONF", conf.c_str(), 1);
}

SoftHsm::~SoftHsm() = default;

void SoftHsm::InitToken(const std::string& label, const std::string& so_pin,
                        const std::string& pin) {
  const std::string command = "softhsm2-util --init-token --free --label '" + label +
                              "' --so-pin '" + so_pin + "' --pin '" + pin + "' >/dev/null 2>&1";
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Fatal("softhsm2-util --init-token --label " + label + " failed");
  }
}

void SoftHsm::GenerateAesKey(const std::string& token, const std::string& pin,
                             const std::string& label, const KeySpec& spec) {
  RawSession raw(token, pin);
  CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
  CK_KEY_TYPE key_type = CKK_AES;
  CK_ULONG value_len = spec.bytes;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL sensitive = spec.sensitive ? CK_TRUE : CK_FALSE;
  CK_BBOOL extractable = spec.extractable ? CK_TRUE : CK_FALSE;
  std::string label_copy = label;
  CK_ATTRIBUTE attributes[] = {
      {CKA_CLASS, &key_class, sizeof(key_class)},
      {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
      {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
      {CKA_LABEL, label_copy.data(), label_copy.size()},
      {CKA_TOKEN, &yes, sizeof(yes)},
      {CKA_PRIVATE, &yes, sizeof(yes)},
      {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
      {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
      {CKA_ENCRYPT, &yes, sizeof(yes)},
      {CKA_DECRYPT, &yes, sizeof(yes)},
  };
  CK_MECHANISM mechanism{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  Check(raw.fn()->C_GenerateKey(raw.session(), &mechanism, attributes,
                                sizeof(attributes) / sizeof(attributes[0]), &key),
        "C_GenerateKey " + label);
}

void SoftHsm::MakeUnextractable(const std::string& token, const std::string& pin,
                                const std::string& label) {
  RawSession raw(token, pin);
  const std::vector<CK_OBJECT_HANDLE> keys = raw.FindSecretKeys(label);
  if (keys.size() != 1) Fatal("expected one key labelled " + label);
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE extractable = {CKA_EXTRACTABLE, &no, sizeof(no)};
  Check(raw.fn()->C_SetAttributeValue(raw.session(), keys[0], &extractable, 1),
        "C_SetAttributeValue(CKA_EXTRACTABLE) " + label);
}

void SoftHsm::DestroyKeys(const std::string& token, const std::string& pin,
                          const std::string& label) {
  RawSession raw(token, pin);
  for (const CK_OBJECT_HANDLE key : raw.FindSecretKeys(label)) {
    Check(raw.fn()->C_DestroyObject(raw.session(), key), "C_DestroyObject " + label);
  }
}

SoftHsm::KeyFacts SoftHsm::InspectKey(const std::string& token, const std::string& pin,
                                      const std::string& label) {
  RawSession raw(token, pin);
  const std::vector<CK_OBJECT_HANDLE> keys = raw.FindSecretKeys(label);
  if (keys.size() != 1) Fatal("expected one key labelled " + label);
  KeyFacts facts;
  std::vector<unsigned char> value(64);
  CK_ATTRIBUTE read_value = {CKA_VALUE, value.data(), value.size()};
  facts.read_value_rv = raw.fn()->C_GetAttributeValue(raw.session(), keys[0], &read_value, 1);
  CK_BBOOL sensitive = CK_FALSE;
  CK_BBOOL extractable = CK_TRUE;
  CK_BBOOL token_object = CK_FALSE;
  CK_ULONG value_len = 0;
  CK_ATTRIBUTE flags[] = {
      {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
      {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
      {CKA_TOKEN, &token_object, sizeof(token_object)},
      {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
  };
  Check(raw.fn()->C_GetAttributeValue(raw.session(), keys[0], flags, 4), "C_GetAttributeValue");
  facts.sensitive = sensitive == CK_TRUE;
  facts.extractable = extractable == CK_TRUE;
  facts.token_object = token_object == CK_TRUE;
  facts.value_len = value_len;
  return facts;
}

}  // namespace credvault::testing
