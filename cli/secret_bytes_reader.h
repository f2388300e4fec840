#ifndef CREDVAULT_CLI_SECRET_BYTES_READER_H_
#define CREDVAULT_CLI_SECRET_BYTES_READER_H_

// The byte-level reading behind cli/secret_input.h, apart from the terminal handling and
// the wiping types, so that it can be driven from any file descriptor (the fuzz target
// tests/fuzz/secret_input_fuzzer.cc feeds it arbitrary bytes through a memory file).

#include <cstddef>
#include <string>

#include "absl/status/status.h"

namespace credvault::cli {

// Reads from `fd` into `out` (already reserved to max_bytes + 1, so that growing it never
// leaves an unwiped copy behind) until end of file, or, when `stop_at_newline`, until the
// first newline, which is dropped together with a carriage return before it. Fails with
// RESOURCE_EXHAUSTED above `max_bytes` and INVALID_ARGUMENT when nothing was read; read
// errors as their errno code. On failure `out` may hold part of the input: the caller
// wipes it.
absl::Status ReadSecretBytes(int fd, std::size_t max_bytes, bool stop_at_newline, std::string* out);

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_SECRET_BYTES_READER_H_
