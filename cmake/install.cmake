# SPDX-License-Identifier: MIT
#
# cmake --install layout:
#
#   bin/htmgil                      command-line program
#   bin/htmgil-bench                microbenchmarks (HTMGIL_BUILD_BENCH)
#   lib/libhtmgil.so, libhtmgil.a   the library, shared and static
#   lib/libhtmgil-preload.so        the LD_PRELOAD shim (gil/)
#   share/htmgil/htmgil_report.py   the report reader `htmgil report` runs
#   include/htmgil/*.h              public headers and the generated config.h
#   lib/pkgconfig/htmgil.pc         pkg-config: `pkg-config --cflags --libs htmgil`
#   lib/cmake/htmgil/               find_package(htmgil): htmgil::htmgil and
#                                   htmgil::htmgil_static
#
# Every file is placed relative to the prefix, so `cmake --install build
# --prefix DIR` gives a working tree in DIR; htmgil.pc and the CMake package
# find their prefix from their own location.

include(CMakePackageConfigHelpers)

set(HG_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/htmgil)
set(HG_PKGCONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(TARGETS htmgil htmgil_static EXPORT htmgilTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(TARGETS htmgil_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/tools/htmgil_report.py
  DESTINATION ${CMAKE_INSTALL_DATADIR}/htmgil)
if(TARGET htmgil_bench)
  install(TARGETS htmgil_bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(TARGET htmgil_preload)
  install(TARGETS htmgil_preload LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/htmgil
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/htmgil/config.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/htmgil)

# CMake package: the exported targets plus a config that finds Threads.
install(EXPORT htmgilTargets NAMESPACE htmgil:: DESTINATION ${HG_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/htmgilConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/htmgilConfig.cmake
  INSTALL_DESTINATION ${HG_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/htmgilConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/htmgilConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/htmgilConfigVersion.cmake
  DESTINATION ${HG_CMAKE_DIR})

# pkg-config: the prefix is computed from the .pc file's own directory.
file(RELATIVE_PATH HG_PC_PREFIX_REL "/prefix/${HG_PKGCONFIG_DIR}" "/prefix")
string(REGEX REPLACE "/$" "" HG_PC_PREFIX_REL "${HG_PC_PREFIX_REL}")
set(HG_PC_LIBS_PRIVATE "-pthread")
if(CMAKE_DL_LIBS)
  string(APPEND HG_PC_LIBS_PRIVATE " -l${CMAKE_DL_LIBS}")
endif()
if(HG_HAVE_LIBPFM)
  string(APPEND HG_PC_LIBS_PRIVATE " -lpfm")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/htmgil.pc.in
  ${PROJECT_BINARY_DIR}/cmake/htmgil.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/htmgil.pc DESTINATION ${HG_PKGCONFIG_DIR})
