#!/usr/bin/env bash
# The README's second command: install what is needed, build the dev preset (Debug, -Werror)
# and run the whole doctest suite through CTest. Pass --asan to use the sanitizer preset.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=dev
if [[ "${1:-}" == "--asan" ]]; then preset=asan; fi

if [[ "${XGRAD_SKIP_DEPS:-0}" != "1" ]]; then ./scripts/install-deps.sh; fi
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset"
