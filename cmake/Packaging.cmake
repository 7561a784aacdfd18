# What `cmake --install` puts besides the binaries (the man page, the bash completion, the
# AppArmor profile), and the Debian package: `cpack -G DEB` (or the `package` target) in the build
# directory makes grootfs_VERSION_ARCH.deb from the same install rules, so whatever a
# CMakeLists installs (every executable under libexec/grootfs) is in the package, modes included.

# grootfs(1), gzip'ed as Debian installs man pages.
configure_file(${PROJECT_SOURCE_DIR}/docs/grootfs.1.in ${CMAKE_BINARY_DIR}/grootfs.1 @ONLY)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/grootfs.1.gz
                   COMMAND gzip -9nc ${CMAKE_BINARY_DIR}/grootfs.1 > ${CMAKE_BINARY_DIR}/grootfs.1.gz
                   DEPENDS ${CMAKE_BINARY_DIR}/grootfs.1 VERBATIM)
add_custom_target(manpage ALL DEPENDS ${CMAKE_BINARY_DIR}/grootfs.1.gz)
install(FILES ${CMAKE_BINARY_DIR}/grootfs.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

install(FILES ${PROJECT_SOURCE_DIR}/packaging/grootfs.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME grootfs)

# The AppArmor profile goes to the etc/ beside the prefix's usr/: /etc/apparmor.d for the prefix
# /usr (and for the package, staged in DIR/usr), PREFIX/etc/apparmor.d for any other prefix, so
# an install into a test prefix never writes to the host's /etc. Decided at install time, when
# the prefix is known.
install(CODE "
  set(grootfs_apparmor_dir \"\${CMAKE_INSTALL_PREFIX}/etc/apparmor.d\")
  if(CMAKE_INSTALL_PREFIX MATCHES \"^(.*)/usr/*$\")
    set(grootfs_apparmor_dir \"\${CMAKE_MATCH_1}/etc/apparmor.d\")
  endif()
  file(INSTALL DESTINATION \"\${grootfs_apparmor_dir}\" TYPE FILE
       FILES \"${PROJECT_SOURCE_DIR}/apparmor/grootfs-helper\")
")

set(GROOTFS_PACKAGE_MAINTAINER "grootfs developers <grootfs-dev@lists.example.org>"
    CACHE STRING "The Debian package's Maintainer field")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME grootfs)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "container root filesystems from images (Garden's image plugin)")
# The extended description (the synopsis is the summary above); cpack indents it and turns
# empty lines into " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "grootfs turns a registry image, an OCI image layout or a tar file into the
root filesystem of a container: an overlay of the image's layers, unpacked
once into a shared cache, with an upper directory of the container's own.
It follows the command line of Cloud Foundry's GrootFS, so Garden uses it
as its image plugin, for privileged and unprivileged (user namespace)
containers.

The grootfs frontend holds no privilege; a small setuid-root helper in
/usr/libexec/grootfs mounts, unpacks inside user namespaces and sets disk
quotas, confined by an AppArmor profile when AppArmor is enabled.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # grootfs_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${GROOTFS_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the binaries' libraries (dpkg-shlibdeps): grootfs links its HTTP client (Asio,
# Beast) and libcrypto in, and its TLS plugin (libexec/grootfs/grootfs-tls.so) libssl and
# libcrypto, so libc and ISA-L are all there is.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# init-store --store-size-bytes runs mkfs.xfs; registries' certificates are checked against
# /etc/ssl/certs; disk limits on btrfs need its quotas enabled.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "xfsprogs, ca-certificates")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "apparmor, btrfs-progs")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
