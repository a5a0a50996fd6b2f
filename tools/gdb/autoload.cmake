# Makes gdb load tools/gdb/xgrad.py by itself for every executable that links xgrad_core:
# a one-line generated source (autoload.cpp.in) puts a .debug_gdb_scripts entry with the
# script's absolute path into each of them. Included from tutorials/ and tests/ (whichever comes
# first; the include guard makes the second a no-op).
include_guard(GLOBAL)

set(XGRAD_GDB_SCRIPT ${PROJECT_SOURCE_DIR}/tools/gdb/xgrad.py)
# The path goes into an assembler string: a quote or a backslash in it would break the entry.
if(XGRAD_GDB_SCRIPT MATCHES "[\"\\\\]")
  message(WARNING "tools/gdb: the source path contains a quote or backslash; gdb will not auto-load "
                  "xgrad.py (source it by hand, see docs/debugging.md)")
  return()
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/autoload.cpp.in ${PROJECT_BINARY_DIR}/tools/gdb/xgrad_gdb_autoload.cpp @ONLY)

# An INTERFACE source is compiled into each consumer itself, so the section is in the executable
# (an object inside libxgrad_core.a would be dropped by the linker: nothing references it).
target_sources(xgrad_core INTERFACE ${PROJECT_BINARY_DIR}/tools/gdb/xgrad_gdb_autoload.cpp)
