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
  if("undefined" IN_LIST RTCACHE_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # clang 14's -fsanitize=function (part of "undefined" in clang, absent from GCC) cannot compile a C++20
    # coroutine ("error: Cannot represent a difference across sections", examples/factory-app/api/http_server.cpp).
    # GCC has no such check; the rest of clang's "undefined" group stays on.
    add_compile_options(-fno-sanitize=function)
  endif()
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

# rtcache_test_code(<target>): marks a target as test code (a test binary or a test support library). In the
# release preset its own sources are compiled at RTCACHE_TEST_OPTIMIZE (-O1) instead of -O3; the libraries it
# tests, the server, the SDK and the benchmarks keep -O3, so the tests still exercise the optimised code that
# ships. -O3's optimisation and code generation are most of a Beast-heavy test source's compile time: measured on
# src/server/gateway/tls_test.cpp, 106 s of CPU at -O3, 67 s at -O1 and 52 s at -O0 (docs/benchmarks.md, "Build
# and test-command time"). -O1 rather than -O0 keeps the release suite's CPU-bound tests (models, property tests)
# fast. Sanitizer presets (Debug) are unaffected.
set(RTCACHE_TEST_OPTIMIZE "-O1" CACHE STRING "Optimisation flag for test code in Release builds (empty: as the rest)")
function(rtcache_test_code target)
  if(RTCACHE_TEST_OPTIMIZE)
    target_compile_options(${target} PRIVATE $<$<CONFIG:Release>:${RTCACHE_TEST_OPTIMIZE}>)
  endif()
endfunction()

# rtcache_add_tests(<target> SOURCES ... LIBS ...): one GoogleTest binary per layer, each TEST a CTest case.
function(rtcache_add_tests target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  rtcache_test_code(${target})
  target_link_libraries(${target} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main rtcache_warnings)
  target_compile_definitions(${target} PRIVATE RTCACHE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  rtcache_register_tests(${target})
  add_dependencies(rtcache_tests ${target})
endfunction()

# rtcache_beast_pch(<target> [header ...]): precompiles the Boost.Beast/Asio headers (and any extra headers, e.g.
# <gtest/gtest.h> for a test binary) once per target, instead of parsing them again in each of its sources. Only the
# targets whose sources use Beast call it. In the asan preset parsing these headers costs ~7 s of CPU per source, and
# the precompiled header took tls_test.cpp from 134 s to 123 s of CPU (the header itself ~17 s, once per target); the
# CI machine compiles without ccache, so the saving is paid back on every run. The headers are force-included into
# every source of the target; the sources test none of the macros they define.
# On by default only for unoptimised builds (the sanitizer presets) without a compiler launcher:
#  - with -O3, GCC 12 inlines std::string differently behind the precompiled header and reports false
#    -Wstringop-overflow/-Warray-bounds in char_traits::copy (config_keys.cpp, frame_writer_test.cpp,
#    gateway_test.cpp), which -Werror turns into a failed release build;
#  - ccache does not cache a source compiled with a precompiled header unless sloppiness=pch_defines,time_macros,
#    and a warm cache beats a precompiled header.
# The tsa preset compiles nothing (-fsyntax-only), so it has nothing to precompile.
if(CMAKE_CXX_COMPILER_LAUNCHER OR NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  set(_rtcache_pch_default OFF)
else()
  set(_rtcache_pch_default ON)
endif()
option(RTCACHE_PCH "Precompile the Boost.Beast/Asio headers of the targets that use them" ${_rtcache_pch_default})
set(RTCACHE_BEAST_PCH_HEADERS
  <boost/asio/connect.hpp> <boost/asio/io_context.hpp> <boost/asio/ip/tcp.hpp> <boost/asio/ssl.hpp>
  <boost/asio/steady_timer.hpp> <boost/asio/strand.hpp> <boost/beast/core.hpp> <boost/beast/http.hpp>
  <boost/beast/ssl.hpp> <boost/beast/websocket.hpp> <boost/beast/websocket/ssl.hpp> <boost/json.hpp>)
function(rtcache_beast_pch target)
  if(RTCACHE_PCH AND NOT RTCACHE_SYNTAX_ONLY)
    target_precompile_headers(${target} PRIVATE ${RTCACHE_BEAST_PCH_HEADERS} ${ARGN})
  endif()
endfunction()

# rtcache_network_test_code(<target>): a socket-level test binary or its support library, whose own sources are
# Beast/Asio clients, servers and TLS handshakes driving the gateway and the C++ SDK. With the precompiled Beast
# header plus <gtest/gtest.h>, and under the asan preset instrumented by AddressSanitizer only: UBSan's checks
# nearly double the compile time of such a source at -O0 (tls_test.cpp: 190 s of CPU with ASan+UBSan, 101 s
# with ASan alone), and what they would check is the harness itself. The code under test (rtcache_gateway,
# rtcache_client and every library they link) keeps ASan+UBSan, and the unit-test binaries keep both.
function(rtcache_network_test_code target)
  rtcache_beast_pch(${target} <gtest/gtest.h>)
  if("undefined" IN_LIST RTCACHE_SANITIZE)
    target_compile_options(${target} PRIVATE -fno-sanitize=undefined)
  endif()
endfunction()
