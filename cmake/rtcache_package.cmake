# The Debian package of the server, built by CPack: `cmake --build --preset release --target package`
# (scripts/package.sh) writes build/release/rtcache_<version>-<revision>_<arch>.deb. Only the `server` install
# component goes in (cmake/rtcache_install.cmake): no headers, no static libraries. Dependencies are computed by
# dpkg-shlibdeps from the binary's shared libraries, so they name the Debian 12 packages it was built against.
set(RTCACHE_PACKAGE_MAINTAINER "rtcache maintainers <maintainers@rtcache.invalid>"
    CACHE STRING "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME rtcache)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "rtcache")
set(CPACK_PACKAGE_CONTACT "${RTCACHE_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "realtime cache invalidation server for PostgreSQL-backed apps")
set(CPACK_PACKAGE_DESCRIPTION "rtcache tails PostgreSQL through logical replication (or receives events over
HTTP), turns row changes into small cache invalidation events, routes them to
scoped channels and fans them out over WebSocket speaking the Supabase
Realtime protocol, so TanStack Query and C++ clients refetch only what changed.
.
This package ships the server, a sandboxed systemd unit running as the
rtcache system user, and its configuration in /etc/rtcache.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# Only the server component, as one package named rtcache (not rtcache-server).
set(CPACK_COMPONENTS_ALL server)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)

# The Debian revision: a packaging-only fix (unit, maintainer scripts) is released as -2 of the same version.
# deploy/debian/changelog's top entry must name <version>-<revision> (scripts/package-test.sh checks it).
set(RTCACHE_DEBIAN_REVISION 1 CACHE STRING "Debian revision of the package version")
set(CPACK_DEBIAN_PACKAGE_RELEASE ${RTCACHE_DEBIAN_REVISION})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # rtcache_<version>-<revision>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_NAME rtcache)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${RTCACHE_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")  # postinst creates the system user; shlibdeps adds the libraries
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)

include(CPack)
