// Must NOT compile: a SecretView of a temporary would dangle.
#include "crypto/secret_view.h"

credvault::crypto::SecretView Dangling() {
  return credvault::crypto::SecretView(credvault::crypto::SecretBytes(32));
}
