#ifndef CREDVAULT_COMMON_STATUS_MACROS_H_
#define CREDVAULT_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Early returns on absl::Status / absl::StatusOr, shared by every module.

#define CREDVAULT_STATUS_CONCAT_INNER(a, b) a##b
#define CREDVAULT_STATUS_CONCAT(a, b) CREDVAULT_STATUS_CONCAT_INNER(a, b)

// Names are made unique with __COUNTER__ so that the macros nest (a handler's lambda inside
// a CV_RETURN_IF_ERROR argument) without shadowing.
#define CV_RETURN_IF_ERROR(expr) \
  CV_RETURN_IF_ERROR_IMPL(CREDVAULT_STATUS_CONCAT(status_, __COUNTER__), expr)

#define CV_RETURN_IF_ERROR_IMPL(status, expr)           \
  do {                                                  \
    if (::absl::Status status = (expr); !status.ok()) { \
      return status;                                    \
    }                                                   \
  } while (false)

#define CV_ASSIGN_OR_RETURN(lhs, expr) \
  CV_ASSIGN_OR_RETURN_IMPL(CREDVAULT_STATUS_CONCAT(statusor_, __COUNTER__), lhs, expr)

#define CV_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                             \
  if (!statusor.ok()) return statusor.status();       \
  lhs = std::move(*statusor)

#endif  // CREDVAULT_COMMON_STATUS_MACROS_H_
