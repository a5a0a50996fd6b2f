#!/bin/sh
# Runs tests/gdb/check_printers.py inside gdb on a tutorial (CTest: gdb/printers).
#   run_gdb_test.sh SOURCE_DIR EXECUTABLE
# Exits 77 (CTest's SKIP_RETURN_CODE) only when there is no gdb to run.
set -eu
source_dir=$1
executable=$2
if ! command -v gdb >/dev/null 2>&1; then
    echo "gdb not found: test skipped (scripts/install-deps.sh installs it)"
    exit 77
fi
export XGRAD_SOURCE_DIR="$source_dir"
# -nx: no ~/.gdbinit, so the printers can only come from the binary's .debug_gdb_scripts entry,
# which gdb honours for paths under the auto-load safe path (the one line a learner adds too).
exec gdb -nx -batch \
    -iex "set debuginfod enabled off" \
    -iex "add-auto-load-safe-path $source_dir" \
    -x "$source_dir/tests/gdb/check_printers.py" \
    --args "$executable"
