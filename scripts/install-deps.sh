#!/usr/bin/env bash
# Installs every Debian package that xgrad's build, tests and main job need.
# Idempotent: packages already present are skipped; `apt-get update` runs once, only when
# something is missing. Run as root (or through sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build git pkg-config
  libxtensor-dev libxsimd-dev doctest-dev nlohmann-json3-dev zlib1g-dev
  dataset-fashion-mnist
  gdb
  libstb-dev graphviz  # PNG figures (vit/viz: stb_image_write.h) and autograd graph pictures (dot)
)
# Optional extras: parity fixtures / benchmarks / fuzzing. Not needed to build or test.
if [[ "${XGRAD_EXTRAS:-0}" == "1" ]]; then
  packages+=(python3-torch libopenblas-dev libbenchmark-dev clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if (( ${#missing[@]} )); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
