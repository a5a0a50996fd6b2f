#!/usr/bin/env bash
# The README's first command: install what is needed, build the release preset and run the
# main job. Until the Fashion-MNIST trainer lands, the main job is the tutorials that exist,
# in order.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${XGRAD_SKIP_DEPS:-0}" != "1" ]]; then ./scripts/install-deps.sh; fi
cmake --preset release >/dev/null
cmake --build --preset release
for t in build/release/tutorials/[0-9][0-9]_*; do
  [[ -x "$t" && -f "$t" ]] || continue
  echo "==> $t"
  "$t"
done
