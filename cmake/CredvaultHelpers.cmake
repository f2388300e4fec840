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

# credvault_enforce_layering(TARGET target ROOM dir [ALLOW prefixes...] [GRPC] [PROTO])
# Fails the build of `target` when one of its sources includes a server/ header outside
# its own room and the ALLOW list, another module's internal/ header, gRPC itself (without
# GRPC), the API's generated messages (without PROTO or GRPC), or libpqxx (outside storage). The rooms and their allowed dependencies are documented in
# docs/architecture.md ("Source layout"); this keeps the code honest to that picture.
function(credvault_enforce_layering)
  cmake_parse_arguments(ARG "GRPC;PROTO" "TARGET;ROOM" "ALLOW" ${ARGN})
  get_target_property(sources ${ARG_TARGET} SOURCES)
  set(files "")
  foreach(source IN LISTS sources)
    if(IS_ABSOLUTE "${source}")
      list(APPEND files "${source}")
    else()
      list(APPEND files "${CMAKE_CURRENT_SOURCE_DIR}/${source}")
    endif()
  endforeach()
  set(stamp "${CMAKE_CURRENT_BINARY_DIR}/${ARG_TARGET}.layering")
  set(grpc OFF)
  if(ARG_GRPC)
    set(grpc ON)
  endif()
  set(proto OFF)
  if(ARG_PROTO)
    set(proto ON)
  endif()
  # Lists travel as comma-separated strings: a ';' would split the command line.
  string(REPLACE ";" "," allow "${ARG_ALLOW}")
  string(REPLACE ";" "," file_list "${files}")
  add_custom_command(
    OUTPUT "${stamp}"
    COMMAND ${CMAKE_COMMAND} "-DROOM=${ARG_ROOM}" "-DALLOW=${allow}" "-DGRPC=${grpc}" "-DPROTO=${proto}"
            "-DFILES=${file_list}" "-DSTAMP=${stamp}"
            -P "${PROJECT_SOURCE_DIR}/cmake/CheckLayering.cmake"
    DEPENDS ${files} "${PROJECT_SOURCE_DIR}/cmake/CheckLayering.cmake"
    COMMENT "Checking the includes of ${ARG_ROOM}"
    VERBATIM)
  add_custom_target(${ARG_TARGET}_layering DEPENDS "${stamp}")
  add_dependencies(${ARG_TARGET} ${ARG_TARGET}_layering)
endfunction()
