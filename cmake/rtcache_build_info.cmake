# rtcache::build_info — version, git commit and build type of this build (src/server/gateway/build_info.hpp).
# The source is regenerated on every build by cmake/rtcache_build_info_gen.cmake (it only changes when the
# commit does). RTCACHE_GIT_COMMIT overrides the commit for builds without a repository.
find_package(Git QUIET)
set(RTCACHE_GIT_COMMIT "" CACHE STRING "Git commit to report when building outside a git checkout (default: read from git, else 'unknown')")
set(_rtcache_build_info_cpp ${PROJECT_BINARY_DIR}/generated/build_info.cpp)
add_custom_target(rtcache_build_info_gen
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUTPUT=${_rtcache_build_info_cpp}
          -DTEMPLATE=${PROJECT_SOURCE_DIR}/cmake/build_info.cpp.in -DVERSION=${PROJECT_VERSION}
          -DBUILD_TYPE=${CMAKE_BUILD_TYPE} -DGIT_EXECUTABLE=${GIT_EXECUTABLE} -DCOMMIT=${RTCACHE_GIT_COMMIT}
          -P ${PROJECT_SOURCE_DIR}/cmake/rtcache_build_info_gen.cmake
  BYPRODUCTS ${_rtcache_build_info_cpp}
  COMMENT "Reading the git commit for rtcache --version"
  VERBATIM)
add_library(rtcache_build_info STATIC ${_rtcache_build_info_cpp})
add_library(rtcache::build_info ALIAS rtcache_build_info)
add_dependencies(rtcache_build_info rtcache_build_info_gen)
target_include_directories(rtcache_build_info PUBLIC ${PROJECT_SOURCE_DIR}/src/server ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(rtcache_build_info PRIVATE rtcache_warnings)
