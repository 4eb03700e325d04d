# SPDX-License-Identifier: MIT
#
# Per-folder include views.  For each folder F named in cmake/layers.txt,
# ${CMAKE_BINARY_DIR}/layers/F holds a symbolic link to F and to each folder
# F may include, nothing else; F's sources are compiled with that view (and
# the public headers) as their only include path, so an include of a folder
# outside F's line does not compile.  hg_layer_sources(F TARGETS t... SOURCES
# s...) adds sources to targets with F's view.

file(STRINGS ${CMAKE_SOURCE_DIR}/cmake/layers.txt hg_layer_lines REGEX "^[a-z]+:")
set(HG_LAYERS "")
foreach(line IN LISTS hg_layer_lines)
  string(REGEX MATCH "^([a-z]+):(.*)$" m "${line}")
  set(f ${CMAKE_MATCH_1})
  string(STRIP "${CMAKE_MATCH_2}" deps)
  separate_arguments(deps)
  list(APPEND HG_LAYERS ${f})
  set(view ${CMAKE_BINARY_DIR}/layers/${f})
  file(MAKE_DIRECTORY ${view})
  # Remove links a previous configuration made and this one does not want
  # (file(REMOVE) unlinks the link itself, never its target).
  file(GLOB old RELATIVE ${view} LIST_DIRECTORIES true ${view}/*)
  foreach(o IN LISTS old)
    if(NOT o IN_LIST deps AND NOT o STREQUAL f)
      file(REMOVE ${view}/${o})
    endif()
  endforeach()
  foreach(d ${f} ${deps})
    if(NOT EXISTS ${CMAKE_SOURCE_DIR}/${d})
      message(FATAL_ERROR "cmake/layers.txt: folder '${d}' (line of ${f}) does not exist")
    endif()
    if(NOT IS_SYMLINK ${view}/${d})
      file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${d} ${view}/${d} SYMBOLIC)
    endif()
  endforeach()
endforeach()

function(hg_layer_sources folder)
  cmake_parse_arguments(L "" "" "TARGETS;SOURCES" ${ARGN})
  if(NOT folder IN_LIST HG_LAYERS)
    message(FATAL_ERROR "hg_layer_sources: '${folder}' is not in cmake/layers.txt")
  endif()
  foreach(t IN LISTS L_TARGETS)
    target_sources(${t} PRIVATE ${L_SOURCES})
  endforeach()
  set_source_files_properties(${L_SOURCES} TARGET_DIRECTORY ${L_TARGETS}
    PROPERTIES INCLUDE_DIRECTORIES ${CMAKE_BINARY_DIR}/layers/${folder})
endfunction()
