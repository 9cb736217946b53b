# What `cmake --install` puts where, in two components:
#   sdk     the C++ SDK: rtcache::core and rtcache::client (static), their headers (include/rtcache/core,
#           include/rtcache/client) and the CMake package (find_package(rtcache), namespace rtcache::);
#   server  the rtcache binary and what the Debian package ships around it (cmake/rtcache_package.cmake):
#           the systemd unit, /etc/rtcache, the man page, the Debian copyright and changelog.
# `cmake --install build/release --component sdk --prefix DIR` installs the SDK alone. The server component
# uses absolute /etc and /lib/systemd paths: it is meant for the package, not for a plain install.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# --- sdk -------------------------------------------------------------------------------------------------
set(RTCACHE_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/rtcache)
set_target_properties(rtcache_core PROPERTIES EXPORT_NAME core)
set_target_properties(rtcache_client PROPERTIES EXPORT_NAME client)
# (Their include directory is their INSTALL_INTERFACE, set where they are defined.)
install(TARGETS rtcache_core rtcache_client EXPORT rtcacheTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT sdk)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/rtcache/core ${PROJECT_SOURCE_DIR}/include/rtcache/client
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rtcache COMPONENT sdk FILES_MATCHING PATTERN "*.hpp")
install(EXPORT rtcacheTargets NAMESPACE rtcache:: DESTINATION ${RTCACHE_CMAKE_INSTALL_DIR} COMPONENT sdk)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/rtcacheConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/rtcacheConfig.cmake INSTALL_DESTINATION ${RTCACHE_CMAKE_INSTALL_DIR})
# 0.x: a minor version may break the API, so only the same major.minor satisfies a request.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/rtcacheConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/rtcacheConfig.cmake ${PROJECT_BINARY_DIR}/rtcacheConfigVersion.cmake
        DESTINATION ${RTCACHE_CMAKE_INSTALL_DIR} COMPONENT sdk)

# --- server ----------------------------------------------------------------------------------------------
# The binary itself: install(TARGETS rtcache ... COMPONENT server) in src/main/CMakeLists.txt.
set(_deploy ${PROJECT_SOURCE_DIR}/deploy)
install(FILES ${_deploy}/systemd/rtcache.service DESTINATION /lib/systemd/system COMPONENT server)
install(FILES ${_deploy}/config/rtcache.toml DESTINATION /etc/rtcache COMPONENT server)
# Root-only: the JWT secret and the conninfo go here (systemd reads it before dropping to the rtcache user).
install(FILES ${_deploy}/config/rtcache.env DESTINATION /etc/rtcache COMPONENT server
        PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES ${PROJECT_SOURCE_DIR}/examples/config/rtcache.example.toml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT server)
# Monitoring over GET /metrics: the Grafana dashboard and the Prometheus alert rules (docs/operations.md).
install(FILES ${_deploy}/grafana/rtcache.json DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/rtcache/grafana COMPONENT server)
install(FILES ${_deploy}/prometheus/alerts.yml DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/rtcache/prometheus
        COMPONENT server)
install(FILES ${_deploy}/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT server)
install(FILES ${_deploy}/debian/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides
        RENAME rtcache COMPONENT server)

# The man page (with this version) and the Debian changelog, gzip'ed reproducibly (-n: no name, no time).
find_program(RTCACHE_GZIP gzip REQUIRED)
configure_file(${_deploy}/man/rtcache.1 ${PROJECT_BINARY_DIR}/deploy/rtcache.1 @ONLY)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/deploy/rtcache.1.gz
                   COMMAND ${RTCACHE_GZIP} -9 -n -c ${PROJECT_BINARY_DIR}/deploy/rtcache.1 > rtcache.1.gz
                   DEPENDS ${PROJECT_BINARY_DIR}/deploy/rtcache.1
                   WORKING_DIRECTORY ${PROJECT_BINARY_DIR}/deploy VERBATIM)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/deploy/changelog.Debian.gz
                   COMMAND ${RTCACHE_GZIP} -9 -n -c ${_deploy}/debian/changelog > changelog.Debian.gz
                   DEPENDS ${_deploy}/debian/changelog
                   WORKING_DIRECTORY ${PROJECT_BINARY_DIR}/deploy VERBATIM)
add_custom_target(rtcache_server_docs ALL
                  DEPENDS ${PROJECT_BINARY_DIR}/deploy/rtcache.1.gz ${PROJECT_BINARY_DIR}/deploy/changelog.Debian.gz)
install(FILES ${PROJECT_BINARY_DIR}/deploy/rtcache.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT server)
install(FILES ${PROJECT_BINARY_DIR}/deploy/changelog.Debian.gz DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT server)
