# One helper per kind of target, in the spirit of absl_cc_library: every module is a
# target with an alias, PUBLIC only for what its public headers expose, warnings as errors.

set(CREDVAULT_WARNINGS -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wformat=2)

if(CREDVAULT_SANITIZE)
  set(CREDVAULT_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all
                                -fno-omit-frame-pointer)
  add_compile_options(${CREDVAULT_SANITIZER_FLAGS})
  add_link_options(${CREDVAULT_SANITIZER_FLAGS})
endif()

function(credvault_apply_options target)
  target_compile_options(${target} PRIVATE ${CREDVAULT_WARNINGS})
  target_include_directories(${target} PUBLIC "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>")
endfunction()

# credvault_cc_library(NAME name SRCS ... HDRS ... PUBLIC_DEPS ... DEPS ...)
# Defines credvault_<name> with alias credvault::<name>.
function(credvault_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;HDRS;PUBLIC_DEPS;DEPS" ${ARGN})
  set(target credvault_${ARG_NAME})
  add_library(${target} STATIC ${ARG_SRCS} ${ARG_HDRS})
  add_library(credvault::${ARG_NAME} ALIAS ${target})
  credvault_apply_options(${target})
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_DEPS})
endfunction()

# credvault_cc_test(NAME name SRCS ... DEPS ... [LABELS ...] [NO_MAIN])
# A GoogleTest executable registered with CTest. NO_MAIN for tests with their own main().
function(credvault_cc_test)
  cmake_parse_arguments(ARG "NO_MAIN" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  credvault_apply_options(${ARG_NAME})
  if(ARG_NO_MAIN)
    target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock)
  else()
    target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  endif()
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
  if(ARG_LABELS)
    set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# credvault_cc_binary(NAME name SRCS ... DEPS ...)
function(credvault_cc_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  credvault_apply_options(${ARG_NAME})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
endfunction()
