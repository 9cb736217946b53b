# Writes build_info.cpp (cmake -P, on every build): the commit is read when the build runs, not when it was
# configured, so a binary never names a commit older than its sources. configure_file rewrites the output only
# when its content changes, so an unchanged commit rebuilds nothing.
#   -DSOURCE_DIR= -DOUTPUT= -DTEMPLATE= -DVERSION= -DBUILD_TYPE= [-DGIT_EXECUTABLE=] [-DCOMMIT=]
# The commit is COMMIT when given (a distribution building from a tarball that knows it), else the 12-digit
# HEAD of SOURCE_DIR's own repository with "-dirty" for uncommitted changes to tracked files, else "unknown":
# a tarball without .git, no git, or sources unpacked inside some other repository (whose HEAD is not theirs).
set(RTCACHE_COMMIT "unknown")
if(COMMIT)
  set(RTCACHE_COMMIT "${COMMIT}")
elseif(GIT_EXECUTABLE)
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --show-toplevel
                  OUTPUT_VARIABLE top RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0)
    file(REAL_PATH "${top}" top)
    file(REAL_PATH "${SOURCE_DIR}" src)
  endif()
  if(rc EQUAL 0 AND top STREQUAL src)
    execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                    OUTPUT_VARIABLE head RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(rc EQUAL 0 AND head MATCHES "^[0-9a-f]+$")
      set(RTCACHE_COMMIT "${head}")
      execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
                      OUTPUT_VARIABLE changes RESULT_VARIABLE rc ERROR_QUIET)
      if(rc EQUAL 0 AND NOT changes STREQUAL "")
        string(APPEND RTCACHE_COMMIT "-dirty")
      endif()
    endif()
  endif()
endif()
set(RTCACHE_VERSION "${VERSION}")
set(RTCACHE_BUILD_TYPE "${BUILD_TYPE}")
configure_file("${TEMPLATE}" "${OUTPUT}" @ONLY)
