# Warning, sanitizer and helper settings shared by every rtcache target.
add_library(rtcache_warnings INTERFACE)
target_compile_options(rtcache_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough
  # GCC 12 reports -Wrestrict false positives inside std::string at -O3 (GCC bug 105329).
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>
  # Clang checks the lock rules written with rtcache/sync/thread_annotations.hpp (GCC ignores the annotations).
  $<$<CXX_COMPILER_ID:Clang>:-Wthread-safety>
  $<$<BOOL:${RTCACHE_WERROR}>:-Werror>)

if(RTCACHE_SANITIZE)
  string(REPLACE ";" "," _rtcache_san "${RTCACHE_SANITIZE}")
  add_compile_options(-fsanitize=${_rtcache_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_rtcache_san})
  # Sanitizer builds keep line tables only (-g1): reports still name file:line, objects are a fifth smaller and
  # the test binaries link faster.
  add_compile_options(-g1)
  if("address" IN_LIST RTCACHE_SANITIZE)
    # ASan test binaries as position-dependent executables: a PIE binary of this size carries ~5 million load-time
    # relocations, which made every test process spend ~0.5 s starting (ctest runs one process per test case).
    add_link_options(-no-pie)
  endif()
endif()

# The tsa preset only wants clang's diagnostics: each source is parsed and analysed (-fsyntax-only) and its
# object, like each archive, is an empty file, so the check costs no code generation, optimisation or linking.
# Nothing built this way can be linked or run.
if(RTCACHE_SYNTAX_ONLY)
  set(CMAKE_CXX_COMPILE_OBJECT
      "<CMAKE_CXX_COMPILER> <DEFINES> <INCLUDES> <FLAGS> -fsyntax-only <SOURCE> && ${CMAKE_COMMAND} -E touch <OBJECT>")
  set(CMAKE_CXX_ARCHIVE_CREATE "${CMAKE_COMMAND} -E touch <TARGET>")
  set(CMAKE_CXX_ARCHIVE_APPEND "${CMAKE_COMMAND} -E touch <TARGET>")
  set(CMAKE_CXX_ARCHIVE_FINISH "")
endif()

# rtcache_tests: every test binary and what it runs, so a sanitizer preset builds only what its tests need
# (scripts/test.sh: `cmake --build --preset asan --target rtcache_tests`).
if(RTCACHE_BUILD_TESTS AND NOT TARGET rtcache_tests)
  add_custom_target(rtcache_tests)
endif()

# rtcache_register_tests(<target> [PROPERTIES ...]): registers a GoogleTest binary with CTest, labelled with its
# name. By default each TEST is a CTest case (gtest_discover_tests). With RTCACHE_CTEST_PER_BINARY (the asan
# preset) the binary is one CTest case that runs all its TESTs in one process and writes GoogleTest's JSON report
# to <build>/gtest/<target>.json, from which scripts/test.sh counts the TESTs: an ASan process spends ~0.25 s
# starting and checking for leaks, which over ~1,900 one-test processes was most of the ASan suite's time.
set(RTCACHE_GTEST_REPORT_DIR "${CMAKE_BINARY_DIR}/gtest")
function(rtcache_register_tests target)
  cmake_parse_arguments(ARG "" "" "PROPERTIES" ${ARGN})
  if(RTCACHE_CTEST_PER_BINARY)
    add_test(NAME ${target} COMMAND ${target} --gtest_output=json:${RTCACHE_GTEST_REPORT_DIR}/${target}.json)
    # Defaults first: a TIMEOUT in ARG_PROPERTIES (meant for one TEST) is replaced by the whole binary's bound.
    set_tests_properties(${target} PROPERTIES LABELS ${target} ${ARG_PROPERTIES})
    set_tests_properties(${target} PROPERTIES TIMEOUT 1500)
  else()
    gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60 DISCOVERY_MODE PRE_TEST PROPERTIES LABELS ${target}
                         ${ARG_PROPERTIES})
  endif()
endfunction()

# rtcache_add_tests(<target> SOURCES ... LIBS ...): one GoogleTest binary per layer, each TEST a CTest case.
function(rtcache_add_tests target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main rtcache_warnings)
  target_compile_definitions(${target} PRIVATE RTCACHE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  rtcache_register_tests(${target})
  add_dependencies(rtcache_tests ${target})
endfunction()
