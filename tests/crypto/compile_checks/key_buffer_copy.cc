// Must NOT compile: a KeyBuffer cannot be copied.
#include "crypto/key_buffer.h"

credvault::crypto::KeyBuffer Take(credvault::crypto::KeyBuffer key) { return key; }

credvault::crypto::KeyBuffer Pass(credvault::crypto::KeyBuffer& key) { return Take(key); }
