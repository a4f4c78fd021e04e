# Packaging of librecur, included at the end of the top CMakeLists.txt:
#  - recur_shared: librecur.so.<major> built from the objects of the static
#    library `recur` (so every `target_sources(recur ...)` lands in both),
#    exporting only the recur_* symbols (cmake/recur.map);
#  - `cmake --install`: the header, librecur.a, librecur.so, the CLI, recur.pc
#    and a CMake package (find_package(recur): recur::recur, recur::recur_static).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The header's version macros must say what project(VERSION) says.
file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/include/recur.h RECUR_VERSION_LINES
     REGEX "^#define RECUR_VERSION_(MAJOR|MINOR|PATCH) ")
foreach(part MAJOR MINOR PATCH)
  string(REGEX MATCH "RECUR_VERSION_${part} ([0-9]+)" _ "${RECUR_VERSION_LINES}")
  if(NOT CMAKE_MATCH_1 STREQUAL PROJECT_VERSION_${part})
    message(FATAL_ERROR "include/recur.h: RECUR_VERSION_${part} is '${CMAKE_MATCH_1}', "
                        "project(VERSION) says ${PROJECT_VERSION}")
  endif()
endforeach()

# --- the shared library ---
add_library(recur_shared SHARED $<TARGET_OBJECTS:recur>)
add_dependencies(recur_shared recur)
set(RECUR_SYMBOL_MAP ${CMAKE_CURRENT_SOURCE_DIR}/cmake/recur.map)
set_target_properties(recur_shared PROPERTIES
  OUTPUT_NAME recur
  EXPORT_NAME recur
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}
  LINKER_LANGUAGE C
  LINK_DEPENDS ${RECUR_SYMBOL_MAP}
  # Keeps the paths of the dependencies outside the system's (CUDA's lib dir).
  INSTALL_RPATH_USE_LINK_PATH ON)
target_link_options(recur_shared PRIVATE "LINKER:--version-script=${RECUR_SYMBOL_MAP}")
if(NOT RECUR_SANITIZE)
  # Every symbol resolved at link time: the library lists all it needs.
  target_link_options(recur_shared PRIVATE "LINKER:--no-undefined")
endif()
# Whatever the static library links (set anywhere in the tree), privately.
target_link_libraries(recur_shared PRIVATE $<TARGET_PROPERTY:recur,LINK_LIBRARIES>)
target_include_directories(recur_shared PUBLIC
  $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
if(RECUR_CUDA)
  # kernels.cu's host code needs the C++ runtime (guards, exception personality).
  # The same for users of the installed librecur.a, whose linker may be the C one.
  target_link_libraries(recur_shared PRIVATE stdc++)
  set_property(TARGET recur APPEND PROPERTY INTERFACE_LINK_LIBRARIES $<INSTALL_INTERFACE:stdc++>)
  # One CUDA runtime, the shared one that CUDA::cudart names (not cudart_static too).
  set_target_properties(recur_shared PROPERTIES CUDA_RUNTIME_LIBRARY Shared)
endif()
set_target_properties(recur PROPERTIES EXPORT_NAME recur_static)
set_target_properties(recur_cli PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

# --- pkg-config ---
# What librecur.a needs besides itself: keep in step with the library's
# target_link_libraries (tests/test_install.sh links statically with these).
set(RECUR_PC_REQUIRES_PRIVATE "${RECUR_BLAS} libcjson libprotobuf-c zlib")
set(RECUR_PC_LIBS_PRIVATE "-lcsv -lm -pthread")
if(RECUR_CUDA)
  string(APPEND RECUR_PC_LIBS_PRIVATE
         " -L${CUDAToolkit_LIBRARY_DIR} -lcudart -ldl -lstdc++") # cuBLAS: dlopen
endif()
# From <libdir>/pkgconfig back to the prefix: one ".." per path component.
string(REGEX REPLACE "[^/]+" ".." RECUR_PC_TO_PREFIX "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/recur.pc.in ${CMAKE_CURRENT_BINARY_DIR}/recur.pc
               @ONLY)

# --- CMake package ---
configure_package_config_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/recurConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/recurConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/recur)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/recurConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)

# --- install ---
install(TARGETS recur recur_shared EXPORT recurTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS recur_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/scripts/recur-completion.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME recur)
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/include/recur.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/recur.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(EXPORT recurTargets NAMESPACE recur:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/recur)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/recurConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/recurConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/recur)
