#include "crypto/pkcs11_seal_key_provider.h"

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <sodium.h>

#include <array>
#include <map>
#include <utility>
#include <vector>

#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "crypto/sodium_init.h"

namespace credvault::crypto {
namespace {

constexpr std::uint8_t kWrapFormat = 0x02;
constexpr std::size_t kGcmNonceSize = 12;
constexpr std::size_t kGcmTagSize = 16;
constexpr std::size_t kWrapOverhead = 1 + kGcmNonceSize + kGcmTagSize;
constexpr CK_ULONG kSealKeySize = 32;
constexpr std::size_t kTokenLabelSize = 32;  // CK_TOKEN_INFO.label, blank padded
constexpr std::size_t kMaxIdleSessions = 8;
constexpr std::size_t kKeyCheckSize = 8;
constexpr std::string_view kKeyIdDomain = "credvault.seal-key-id.v1";

// Return values that name their cause well enough for an operator; others print as hex.
std::string RvName(CK_RV rv) {
  switch (rv) {
#define CREDVAULT_CKR_CASE(name) \
  case name:                     \
    return #name;
    CREDVAULT_CKR_CASE(CKR_OK)
    CREDVAULT_CKR_CASE(CKR_HOST_MEMORY)
    CREDVAULT_CKR_CASE(CKR_SLOT_ID_INVALID)
    CREDVAULT_CKR_CASE(CKR_GENERAL_ERROR)
    CREDVAULT_CKR_CASE(CKR_FUNCTION_FAILED)
    CREDVAULT_CKR_CASE(CKR_ARGUMENTS_BAD)
    CREDVAULT_CKR_CASE(CKR_ATTRIBUTE_SENSITIVE)
    CREDVAULT_CKR_CASE(CKR_ATTRIBUTE_TYPE_INVALID)
    CREDVAULT_CKR_CASE(CKR_ATTRIBUTE_VALUE_INVALID)
    CREDVAULT_CKR_CASE(CKR_DATA_LEN_RANGE)
    CREDVAULT_CKR_CASE(CKR_DEVICE_ERROR)
    CREDVAULT_CKR_CASE(CKR_DEVICE_MEMORY)
    CREDVAULT_CKR_CASE(CKR_DEVICE_REMOVED)
    CREDVAULT_CKR_CASE(CKR_ENCRYPTED_DATA_INVALID)
    CREDVAULT_CKR_CASE(CKR_ENCRYPTED_DATA_LEN_RANGE)
    CREDVAULT_CKR_CASE(CKR_KEY_HANDLE_INVALID)
    CREDVAULT_CKR_CASE(CKR_KEY_TYPE_INCONSISTENT)
    CREDVAULT_CKR_CASE(CKR_KEY_FUNCTION_NOT_PERMITTED)
    CREDVAULT_CKR_CASE(CKR_MECHANISM_INVALID)
    CREDVAULT_CKR_CASE(CKR_MECHANISM_PARAM_INVALID)
    CREDVAULT_CKR_CASE(CKR_OBJECT_HANDLE_INVALID)
    CREDVAULT_CKR_CASE(CKR_OPERATION_ACTIVE)
    CREDVAULT_CKR_CASE(CKR_PIN_INCORRECT)
    CREDVAULT_CKR_CASE(CKR_PIN_LEN_RANGE)
    CREDVAULT_CKR_CASE(CKR_PIN_EXPIRED)
    CREDVAULT_CKR_CASE(CKR_PIN_LOCKED)
    CREDVAULT_CKR_CASE(CKR_SESSION_CLOSED)
    CREDVAULT_CKR_CASE(CKR_SESSION_COUNT)
    CREDVAULT_CKR_CASE(CKR_SESSION_HANDLE_INVALID)
    CREDVAULT_CKR_CASE(CKR_TEMPLATE_INCOMPLETE)
    CREDVAULT_CKR_CASE(CKR_TEMPLATE_INCONSISTENT)
    CREDVAULT_CKR_CASE(CKR_TOKEN_NOT_PRESENT)
    CREDVAULT_CKR_CASE(CKR_TOKEN_NOT_RECOGNIZED)
    CREDVAULT_CKR_CASE(CKR_TOKEN_WRITE_PROTECTED)
    CREDVAULT_CKR_CASE(CKR_USER_ALREADY_LOGGED_IN)
    CREDVAULT_CKR_CASE(CKR_USER_NOT_LOGGED_IN)
    CREDVAULT_CKR_CASE(CKR_USER_PIN_NOT_INITIALIZED)
    CREDVAULT_CKR_CASE(CKR_BUFFER_TOO_SMALL)
    CREDVAULT_CKR_CASE(CKR_CRYPTOKI_NOT_INITIALIZED)
    CREDVAULT_CKR_CASE(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef CREDVAULT_CKR_CASE
  }
  return absl::StrCat("CKR 0x", absl::Hex(rv));
}

// Failures of the token or of the link to it rather than of the request: worth a retry
// once the HSM is back, and never evidence of tampering.
bool IsUnavailable(CK_RV rv) {
  switch (rv) {
    case CKR_HOST_MEMORY:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
    case CKR_DEVICE_REMOVED:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_COUNT:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OPERATION_ACTIVE:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return true;
    default:
      return false;
  }
}

absl::Status TokenError(const std::string& what, CK_RV rv) {
  const std::string message = absl::StrCat(what, ": ", RvName(rv));
  if (IsUnavailable(rv)) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

std::string LabelOf(const CK_TOKEN_INFO& info) {
  std::string label(reinterpret_cast<const char*>(info.label), kTokenLabelSize);
  while (!label.empty() && (label.back() == ' ' || label.back() == '\0')) label.pop_back();
  return label;
}

CK_UTF8CHAR_PTR Utf8(std::string& text) { return reinterpret_cast<CK_UTF8CHAR_PTR>(text.data()); }

// A loaded PKCS#11 library, shared by every provider of this process that names it (a
// current and a previous seal key often live in one HSM). C_Initialize and C_Finalize are
// process-wide, so they are called for the first user and after the last one.
struct Module {
  CK_FUNCTION_LIST_PTR functions = nullptr;
  int users = 0;
  bool finalize_after_last_user = false;
};

ABSL_CONST_INIT absl::Mutex modules_mutex(absl::kConstInit);

// Keyed by dlopen handle, which is the same for every path that reaches one library.
std::map<void*, Module*>& Modules() ABSL_EXCLUSIVE_LOCKS_REQUIRED(modules_mutex) {
  static auto* modules = new std::map<void*, Module*>();
  return *modules;
}

void ReleaseModule(Module* module) {
  absl::MutexLock lock(&modules_mutex);
  if (--module->users == 0 && module->finalize_after_last_user) {
    module->functions->C_Finalize(nullptr);
    module->finalize_after_last_user = false;
  }
}

using ModuleRef = std::shared_ptr<const CK_FUNCTION_LIST>;

absl::StatusOr<ModuleRef> AcquireModule(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("module: no PKCS#11 library path given");
  absl::MutexLock lock(&modules_mutex);
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::FailedPreconditionError(absl::StrCat("module: cannot load the PKCS#11 library ",
                                                      path, ": ", why ? why : "unknown error"));
  }
  Module*& module = Modules()[handle];
  if (module != nullptr) {
    // Already loaded by an earlier provider: one dlopen reference is enough.
    dlclose(handle);
  } else {
    const auto get_function_list =
        reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
    CK_FUNCTION_LIST_PTR functions = nullptr;
    const CK_RV rv =
        get_function_list == nullptr ? CKR_FUNCTION_FAILED : get_function_list(&functions);
    if (rv != CKR_OK || functions == nullptr) {
      Modules().erase(handle);
      dlclose(handle);
      return absl::FailedPreconditionError(
          absl::StrCat("module: ", path, " is not a PKCS#11 library (no C_GetFunctionList)"));
    }
    // Never unloaded: several PKCS#11 libraries (SoftHSM2 with OpenSSL among them) leave
    // process-wide state behind that does not survive dlclose.
    module = new Module{functions};
  }
  if (module->users == 0) {
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    const CK_RV rv = module->functions->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      return absl::FailedPreconditionError(
          absl::StrCat("module: C_Initialize of ", path, " failed: ", RvName(rv)));
    }
    // Already initialised by other code of this process: finalising is theirs to do.
    module->finalize_after_last_user = rv == CKR_OK;
  }
  ++module->users;
  return ModuleRef(module->functions, [module](const CK_FUNCTION_LIST*) { ReleaseModule(module); });
}

}  // namespace

// One token of a loaded module, logged in as the user for as long as it lives, and a pool
// of sessions for concurrent calls.
class Pkcs11SealKeyProvider::Token {
 public:
  // A session borrowed for one call; returned to the pool unless marked broken.
  class Lease {
   public:
    Lease(Token& token, CK_SESSION_HANDLE session) : token_(token), session_(session) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { token_.Return(session_, healthy_); }

    CK_SESSION_HANDLE session() const { return session_; }
    // After a failure the session may hold an unfinished operation; do not reuse it.
    void MarkBroken() { healthy_ = false; }

   private:
    Token& token_;
    CK_SESSION_HANDLE session_;
    bool healthy_ = true;
  };

  static absl::StatusOr<std::unique_ptr<Token>> Open(const Pkcs11KeyLocation& location,
                                                     SecretView pin, bool read_write);

  ~Token() {
    absl::MutexLock lock(&mutex_);
    for (const CK_SESSION_HANDLE session : idle_) fn()->C_CloseSession(session);
    idle_.clear();
    fn()->C_CloseSession(login_session_);
  }

  CK_FUNCTION_LIST_PTR fn() const { return const_cast<CK_FUNCTION_LIST_PTR>(module_.get()); }
  const std::string& token_label() const { return token_label_; }
  CK_SESSION_HANDLE login_session() const { return login_session_; }
  CK_OBJECT_HANDLE key() const { return key_; }
  void set_key(CK_OBJECT_HANDLE key) { key_ = key; }

  absl::StatusOr<std::unique_ptr<Lease>> Borrow() {
    {
      absl::MutexLock lock(&mutex_);
      if (!idle_.empty()) {
        const CK_SESSION_HANDLE session = idle_.back();
        idle_.pop_back();
        return std::make_unique<Lease>(*this, session);
      }
    }
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    const CK_RV rv = fn()->C_OpenSession(slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &session);
    if (rv != CKR_OK) {
      return TokenError(absl::StrCat("cannot open a session with token \"", token_label_, "\""),
                        rv);
    }
    return std::make_unique<Lease>(*this, session);
  }

  // Secret key objects labelled `label` (AES only, unless `any_type`); at most two, which is
  // enough to tell "none", "one" and "ambiguous" apart.
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindSecretKeys(const std::string& label,
                                                               bool any_type) const {
    CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
    CK_KEY_TYPE key_type = CKK_AES;
    std::string label_copy = label;
    std::vector<CK_ATTRIBUTE> match = {
        {CKA_CLASS, &key_class, sizeof(key_class)},
        {CKA_LABEL, Utf8(label_copy), label_copy.size()},
    };
    if (!any_type) match.push_back({CKA_KEY_TYPE, &key_type, sizeof(key_type)});
    CK_RV rv = fn()->C_FindObjectsInit(login_session_, match.data(), match.size());
    if (rv != CKR_OK) return TokenError("key_label: C_FindObjectsInit", rv);
    std::array<CK_OBJECT_HANDLE, 2> found{};
    CK_ULONG count = 0;
    rv = fn()->C_FindObjects(login_session_, found.data(), found.size(), &count);
    fn()->C_FindObjectsFinal(login_session_);
    if (rv != CKR_OK) return TokenError("key_label: C_FindObjects", rv);
    return std::vector<CK_OBJECT_HANDLE>(found.begin(), found.begin() + count);
  }

 private:
  Token(ModuleRef module, CK_SLOT_ID slot, std::string token_label)
      : module_(std::move(module)), slot_(slot), token_label_(std::move(token_label)) {}

  void Return(CK_SESSION_HANDLE session, bool healthy) {
    {
      absl::MutexLock lock(&mutex_);
      if (healthy && idle_.size() < kMaxIdleSessions) {
        idle_.push_back(session);
        return;
      }
    }
    fn()->C_CloseSession(session);
  }

  const ModuleRef module_;
  const CK_SLOT_ID slot_;
  const std::string token_label_;
  CK_SESSION_HANDLE login_session_ = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE key_ = CK_INVALID_HANDLE;
  absl::Mutex mutex_;
  std::vector<CK_SESSION_HANDLE> idle_ ABSL_GUARDED_BY(mutex_);
};

absl::StatusOr<std::unique_ptr<Pkcs11SealKeyProvider::Token>> Pkcs11SealKeyProvider::Token::Open(
    const Pkcs11KeyLocation& location, SecretView pin, bool read_write) {
  if (location.token_label.empty() || location.token_label.size() > kTokenLabelSize) {
    return absl::InvalidArgumentError("token_label: must be 1 to 32 bytes");
  }
  if (location.key_label.empty()) return absl::InvalidArgumentError("key_label: must be set");
  if (pin.size() == 0) return absl::InvalidArgumentError("pin: the user PIN is empty");
  absl::StatusOr<ModuleRef> module = AcquireModule(location.module_path);
  if (!module.ok()) return module.status();
  CK_FUNCTION_LIST_PTR fn = const_cast<CK_FUNCTION_LIST_PTR>(module->get());

  CK_ULONG slot_count = 0;
  CK_RV rv = fn->C_GetSlotList(CK_TRUE, nullptr, &slot_count);
  if (rv != CKR_OK) return TokenError("token_label: C_GetSlotList", rv);
  std::vector<CK_SLOT_ID> slots(slot_count);
  rv = fn->C_GetSlotList(CK_TRUE, slots.data(), &slot_count);
  if (rv != CKR_OK) return TokenError("token_label: C_GetSlotList", rv);
  slots.resize(slot_count);
  std::vector<CK_SLOT_ID> matching;
  std::vector<std::string> present;
  for (const CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    if (fn->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    const std::string label = LabelOf(info);
    if (label == location.token_label) matching.push_back(slot);
    present.push_back(absl::StrCat("\"", label, "\""));
  }
  if (matching.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "token_label: no token labelled \"", location.token_label, "\" in ", location.module_path,
        " (tokens present: ", present.empty() ? "none" : absl::StrJoin(present, ", "), ")"));
  }
  if (matching.size() > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("token_label: ", matching.size(), " tokens are labelled \"",
                     location.token_label, "\"; labels must be unique"));
  }

  std::unique_ptr<Token> token(new Token(*std::move(module), matching[0], location.token_label));
  const CK_FLAGS flags = CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0);
  rv = fn->C_OpenSession(token->slot_, flags, nullptr, nullptr, &token->login_session_);
  if (rv != CKR_OK) {
    return TokenError(absl::StrCat("token_label: cannot open a session with token \"",
                                   location.token_label, "\""),
                      rv);
  }
  // C_Login takes a mutable pointer; give it a copy that is wiped afterwards.
  SecretBytes pin_copy = SecretBytes::CopyFrom(pin.RevealSecret());
  rv = fn->C_Login(token->login_session_, CKU_USER, pin_copy.RevealMutableSecret().data(),
                   pin_copy.size());
  switch (rv) {
    case CKR_OK:
    case CKR_USER_ALREADY_LOGGED_IN:  // another provider of this process shares the token
      break;
    case CKR_PIN_INCORRECT:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
      return absl::PermissionDeniedError(absl::StrCat(
          "pin: token \"", location.token_label, "\" refused the user PIN (", RvName(rv), ")"));
    case CKR_PIN_LOCKED:
      return absl::PermissionDeniedError(
          absl::StrCat("pin: the user PIN of token \"", location.token_label,
                       "\" is locked (CKR_PIN_LOCKED); the security officer must reset it"));
    case CKR_USER_PIN_NOT_INITIALIZED:
      return absl::FailedPreconditionError(absl::StrCat(
          "pin: token \"", location.token_label, "\" has no user PIN set (initialise it first)"));
    default:
      return TokenError(absl::StrCat("pin: login to token \"", location.token_label, "\" failed"),
                        rv);
  }
  return token;
}

Pkcs11SealKeyProvider::Pkcs11SealKeyProvider(std::unique_ptr<Token> token, std::string key_id)
    : token_(std::move(token)), key_id_(std::move(key_id)) {}

Pkcs11SealKeyProvider::~Pkcs11SealKeyProvider() = default;

std::string Pkcs11SealKeyProvider::KeyId() const { return key_id_; }

namespace {

// One AES-GCM encryption inside the token: `out` receives ciphertext || tag.
CK_RV GcmEncrypt(CK_FUNCTION_LIST_PTR fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
                 const std::uint8_t* nonce, absl::Span<const std::uint8_t> aad,
                 absl::Span<const std::uint8_t> plaintext, absl::Span<std::uint8_t> out) {
  CK_GCM_PARAMS gcm{};
  gcm.pIv = const_cast<CK_BYTE_PTR>(nonce);
  gcm.ulIvLen = kGcmNonceSize;
  gcm.ulIvBits = kGcmNonceSize * 8;
  gcm.pAAD = const_cast<CK_BYTE_PTR>(aad.data());
  gcm.ulAADLen = aad.size();
  gcm.ulTagBits = kGcmTagSize * 8;
  CK_MECHANISM mechanism{CKM_AES_GCM, &gcm, sizeof(gcm)};
  CK_RV rv = fn->C_EncryptInit(session, &mechanism, key);
  if (rv != CKR_OK) return rv;
  // A zero-length message still needs a valid pointer for some modules.
  std::uint8_t empty = 0;
  CK_ULONG written = out.size();
  rv =
      fn->C_Encrypt(session, plaintext.empty() ? &empty : const_cast<CK_BYTE_PTR>(plaintext.data()),
                    plaintext.size(), out.data(), &written);
  if (rv == CKR_OK && written != out.size()) rv = CKR_GENERAL_ERROR;
  return rv;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pkcs11SealKeyProvider>> Pkcs11SealKeyProvider::Open(
    const Pkcs11KeyLocation& location, SecretView pin) {
  EnsureSodiumInitialized();
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(location, pin, /*read_write=*/false);
  if (!token.ok()) return token.status();
  CK_FUNCTION_LIST_PTR fn = (*token)->fn();
  const std::string where =
      absl::StrCat("key \"", location.key_label, "\" in token \"", location.token_label, "\"");

  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> keys =
      (*token)->FindSecretKeys(location.key_label, /*any_type=*/false);
  if (!keys.ok()) return keys.status();
  if (keys->empty()) {
    return absl::NotFoundError(absl::StrCat("key_label: no AES secret key labelled \"",
                                            location.key_label, "\" in token \"",
                                            location.token_label, "\""));
  }
  if (keys->size() > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("key_label: several AES secret keys are labelled \"", location.key_label,
                     "\" in token \"", location.token_label, "\"; labels must be unique"));
  }
  const CK_OBJECT_HANDLE key = keys->front();

  CK_ULONG value_len = 0;
  CK_BBOOL sensitive = CK_FALSE;
  CK_BBOOL extractable = CK_TRUE;
  CK_BBOOL can_encrypt = CK_FALSE;
  CK_BBOOL can_decrypt = CK_FALSE;
  CK_ATTRIBUTE attributes[] = {
      {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
      {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
      {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
      {CKA_ENCRYPT, &can_encrypt, sizeof(can_encrypt)},
      {CKA_DECRYPT, &can_decrypt, sizeof(can_decrypt)},
  };
  CK_RV rv = fn->C_GetAttributeValue((*token)->login_session(), key, attributes,
                                     sizeof(attributes) / sizeof(attributes[0]));
  if (rv != CKR_OK) {
    return TokenError(absl::StrCat("key_label: cannot read the attributes of ", where), rv);
  }
  if (value_len != kSealKeySize) {
    return absl::FailedPreconditionError(absl::StrCat("key_label: ", where, " is ", value_len * 8,
                                                      "-bit; the seal key must be AES-256"));
  }
  // The seal key must never be readable outside the token: a sensitive key's value cannot
  // be read, and a non-extractable one cannot be wrapped out (exported) either. PKCS#11
  // lets either attribute be tightened on an existing key, never loosened, so a key in use
  // can be fixed in place before it is rotated away from.
  constexpr char kHowToFix[] =
      "; generate the seal key with sensitive=true and extractable=false (credvaultd "
      "pkcs11-generate-seal-key does), or set the attribute on this key with the HSM's tool "
      "(irreversible) and, if its value may have left the token, rotate to a new key";
  if (sensitive != CK_TRUE) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key_label: ", where,
        " is not sensitive (CKA_SENSITIVE false): the token would reveal its value", kHowToFix));
  }
  if (extractable != CK_FALSE) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key_label: ", where,
        " is extractable (CKA_EXTRACTABLE true): the token would export its value", kHowToFix));
  }
  if (can_encrypt != CK_TRUE || can_decrypt != CK_TRUE) {
    return absl::FailedPreconditionError(
        absl::StrCat("key_label: ", where, " does not allow both encrypt and decrypt"));
  }
  (*token)->set_key(key);

  // Key check value: see the header for why a fixed nonce is sound here.
  const std::array<std::uint8_t, kGcmNonceSize> zero_nonce{};
  std::array<std::uint8_t, kGcmTagSize> tag{};
  {
    absl::StatusOr<std::unique_ptr<Token::Lease>> lease = (*token)->Borrow();
    if (!lease.ok()) return lease.status();
    rv = GcmEncrypt(
        fn, (*lease)->session(), key, zero_nonce.data(),
        absl::Span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(kKeyIdDomain.data()),
                                       kKeyIdDomain.size()),
        {}, absl::MakeSpan(tag));
    if (rv != CKR_OK) {
      (*lease)->MarkBroken();
      return TokenError(absl::StrCat("key_label: AES-GCM with ", where, " failed"), rv);
    }
  }
  char hex[2 * kKeyCheckSize + 1];
  sodium_bin2hex(hex, sizeof(hex), tag.data(), kKeyCheckSize);
  std::string key_id =
      absl::StrCat("pkcs11:", location.token_label, "/", location.key_label, ":", hex);
  return std::unique_ptr<Pkcs11SealKeyProvider>(
      new Pkcs11SealKeyProvider(*std::move(token), std::move(key_id)));
}

absl::Status Pkcs11SealKeyProvider::GenerateKey(const Pkcs11KeyLocation& location, SecretView pin) {
  absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(location, pin, /*read_write=*/true);
  if (!token.ok()) return token.status();
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> existing =
      (*token)->FindSecretKeys(location.key_label, /*any_type=*/true);
  if (!existing.ok()) return existing.status();
  if (!existing->empty()) {
    return absl::AlreadyExistsError(absl::StrCat("key_label: token \"", location.token_label,
                                                 "\" already holds a secret key labelled \"",
                                                 location.key_label, "\""));
  }
  CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
  CK_KEY_TYPE key_type = CKK_AES;
  CK_ULONG value_len = kSealKeySize;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  std::string label = location.key_label;
  CK_ATTRIBUTE attributes[] = {
      {CKA_CLASS, &key_class, sizeof(key_class)},
      {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
      {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
      {CKA_LABEL, Utf8(label), label.size()},
      {CKA_TOKEN, &yes, sizeof(yes)},
      {CKA_PRIVATE, &yes, sizeof(yes)},
      {CKA_SENSITIVE, &yes, sizeof(yes)},
      {CKA_EXTRACTABLE, &no, sizeof(no)},
      {CKA_ENCRYPT, &yes, sizeof(yes)},
      {CKA_DECRYPT, &yes, sizeof(yes)},
      {CKA_WRAP, &no, sizeof(no)},
      {CKA_UNWRAP, &no, sizeof(no)},
      {CKA_SIGN, &no, sizeof(no)},
      {CKA_VERIFY, &no, sizeof(no)},
      {CKA_DERIVE, &no, sizeof(no)},
  };
  CK_MECHANISM mechanism{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  const CK_RV rv = (*token)->fn()->C_GenerateKey((*token)->login_session(), &mechanism, attributes,
                                                 sizeof(attributes) / sizeof(attributes[0]), &key);
  if (rv != CKR_OK) {
    return TokenError(absl::StrCat("key_label: generating an AES-256 key in token \"",
                                   location.token_label, "\" failed"),
                      rv);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::uint8_t>> Pkcs11SealKeyProvider::Wrap(
    SecretView plaintext, const AssociatedData& associated_data) const {
  std::vector<std::uint8_t> out(kWrapOverhead + plaintext.size());
  out[0] = kWrapFormat;
  randombytes_buf(out.data() + 1, kGcmNonceSize);
  absl::StatusOr<std::unique_ptr<Token::Lease>> lease = token_->Borrow();
  if (!lease.ok()) return lease.status();
  const CK_RV rv = GcmEncrypt(token_->fn(), (*lease)->session(), token_->key(), out.data() + 1,
                              associated_data.bytes(), plaintext.RevealSecret(),
                              absl::MakeSpan(out).subspan(1 + kGcmNonceSize));
  if (rv != CKR_OK) {
    (*lease)->MarkBroken();
    return TokenError(absl::StrCat("wrapping with seal key ", key_id_), rv);
  }
  return out;
}

absl::StatusOr<SecretBytes> Pkcs11SealKeyProvider::Unwrap(
    absl::Span<const std::uint8_t> wrapped, const AssociatedData& associated_data) const {
  if (wrapped.size() < kWrapOverhead || wrapped[0] != kWrapFormat) {
    return absl::DataLossError("wrapped key is malformed");
  }
  const absl::Span<const std::uint8_t> aad = associated_data.bytes();
  CK_GCM_PARAMS gcm{};
  gcm.pIv = const_cast<CK_BYTE_PTR>(wrapped.data() + 1);
  gcm.ulIvLen = kGcmNonceSize;
  gcm.ulIvBits = kGcmNonceSize * 8;
  gcm.pAAD = const_cast<CK_BYTE_PTR>(aad.data());
  gcm.ulAADLen = aad.size();
  gcm.ulTagBits = kGcmTagSize * 8;
  CK_MECHANISM mechanism{CKM_AES_GCM, &gcm, sizeof(gcm)};
  const absl::Span<const std::uint8_t> sealed = wrapped.subspan(1 + kGcmNonceSize);

  absl::StatusOr<std::unique_ptr<Token::Lease>> lease = token_->Borrow();
  if (!lease.ok()) return lease.status();
  CK_FUNCTION_LIST_PTR fn = token_->fn();
  CK_RV rv = fn->C_DecryptInit((*lease)->session(), &mechanism, token_->key());
  if (rv != CKR_OK) {
    (*lease)->MarkBroken();
    return TokenError(absl::StrCat("unwrapping with seal key ", key_id_), rv);
  }
  // Some modules want room for the whole input before they have checked the tag.
  SecretBytes plaintext(sealed.size());
  CK_ULONG written = plaintext.size();
  rv = fn->C_Decrypt((*lease)->session(), const_cast<CK_BYTE_PTR>(sealed.data()), sealed.size(),
                     plaintext.RevealMutableSecret().data(), &written);
  if (rv != CKR_OK) {
    (*lease)->MarkBroken();
    if (IsUnavailable(rv)) {
      return absl::UnavailableError(
          absl::StrCat("unwrapping with seal key ", key_id_, ": ", RvName(rv)));
    }
    return absl::DataLossError("wrapped key failed to unwrap under seal key " + key_id_);
  }
  if (written != sealed.size() - kGcmTagSize) {
    return absl::DataLossError("wrapped key failed to unwrap under seal key " + key_id_);
  }
  plaintext.Truncate(written);
  return plaintext;
}

}  // namespace credvault::crypto
