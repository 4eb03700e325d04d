# SPDX-License-Identifier: MIT
#
# hg_find_pythons(OUT): the CPython interpreters htmgil supports that are
# installed here, as a list of "X.Y=/path/to/python" (several per version are
# possible, e.g. pyenv's 3.11 and Debian's python3.11d).  Looks in the pyenv
# root (PYENV_ROOT, `pyenv root`, or ~/.pyenv) and on PATH; nothing is
# hard-coded per machine.
function(hg_find_pythons out)
  set(roots "")
  if(DEFINED ENV{PYENV_ROOT})
    list(APPEND roots "$ENV{PYENV_ROOT}")
  endif()
  find_program(HG_PYENV pyenv)
  if(HG_PYENV)
    execute_process(COMMAND ${HG_PYENV} root OUTPUT_VARIABLE r
      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
    if(rc EQUAL 0 AND r)
      list(APPEND roots "${r}")
    endif()
  endif()
  if(DEFINED ENV{HOME})
    list(APPEND roots "$ENV{HOME}/.pyenv")
  endif()
  list(REMOVE_DUPLICATES roots)
  set(found "")
  foreach(ver 2.7 3.11 3.12 3.13)
    foreach(root IN LISTS roots)
      file(GLOB dirs LIST_DIRECTORIES true "${root}/versions/${ver}.*")
      foreach(d IN LISTS dirs)
        if(EXISTS "${d}/bin/python${ver}" AND NOT d MATCHES "t$")
          list(APPEND found "${ver}=${d}/bin/python${ver}")
        endif()
      endforeach()
    endforeach()
  endforeach()
  foreach(name python3.11d)
    find_program(HG_PY_${name} ${name} NO_CACHE)
    if(HG_PY_${name})
      list(APPEND found "3.11=${HG_PY_${name}}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES found)
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

# hg_python_entry(ENTRY VER EXE TAG): splits an "X.Y=/path" entry of
# hg_find_pythons into its version and interpreter, and names it for test
# names: pyenv_X_Y for a pyenv build, the program's name otherwise.
function(hg_python_entry entry ver_out exe_out tag_out)
  string(REPLACE "=" ";" pair "${entry}")
  list(GET pair 0 ver)
  list(GET pair 1 exe)
  get_filename_component(base ${exe} NAME)
  if(exe MATCHES "/versions/")
    set(tag "pyenv_${ver}")
  else()
    set(tag "${base}")
  endif()
  string(REPLACE "." "_" tag "${tag}")
  set(${ver_out} "${ver}" PARENT_SCOPE)
  set(${exe_out} "${exe}" PARENT_SCOPE)
  set(${tag_out} "${tag}" PARENT_SCOPE)
endfunction()
