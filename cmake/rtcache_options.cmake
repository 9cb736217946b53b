# Warning, sanitizer and helper settings shared by every rtcache target.
add_library(rtcache_warnings INTERFACE)
target_compile_options(rtcache_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough
  # GCC 12 reports -Wrestrict false positives inside std::string at -O3 (GCC bug 105329).
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>
  $<$<BOOL:${RTCACHE_WERROR}>:-Werror>)

if(RTCACHE_SANITIZE)
  string(REPLACE ";" "," _rtcache_san "${RTCACHE_SANITIZE}")
  add_compile_options(-fsanitize=${_rtcache_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_rtcache_san})
endif()

# rtcache_add_tests(<target> SOURCES ... LIBS ...): one GoogleTest binary per layer, each TEST a CTest case.
function(rtcache_add_tests target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main rtcache_warnings)
  target_compile_definitions(${target} PRIVATE RTCACHE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60 DISCOVERY_MODE PRE_TEST PROPERTIES LABELS ${target})
endfunction()
