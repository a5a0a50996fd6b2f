#!/usr/bin/env bash
# The README's first command: install what is needed, build the release preset and run the main
# job: train the Vision Transformer on Fashion-MNIST with the default recipe (about ten minutes on
# two cores, evaluation included; docs/training.md), then say how to resume and evaluate.
#
# Extra arguments go to the trainer:  ./scripts/run-main.sh --time-budget 120 --out runs/short
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${XGRAD_SKIP_DEPS:-0}" != "1" ]]; then ./scripts/install-deps.sh; fi
# -Werror is for development (the dev preset, CI); a user's build should not fail on a warning
# a newer compiler adds.
cmake --preset release -DXGRAD_WERROR=OFF >/dev/null
cmake --build --preset release --target 07_train_fashion_mnist 08_evaluate
# Write the build's files out now: the kernel would otherwise do it during the first seconds of
# training, on a core the trainer's speed check is timing.
sync

out=runs/fashion_mnist
for ((i = 1; i <= $#; i++)); do
  arg=${!i}
  case "$arg" in
    --out=*) out=${arg#--out=} ;;
    --out) j=$((i + 1)); out=${!j:-$out} ;;
  esac
done

echo "==> build/release/tutorials/07_train_fashion_mnist $*"
status=0
build/release/tutorials/07_train_fashion_mnist "$@" || status=$?

cat <<EOF

==> what next
  curves:    $out/metrics.csv   (step, epoch, loss, lr, train_acc, test_acc, test_acc_tta, images_per_s, elapsed_s)
  resume:    build/release/tutorials/07_train_fashion_mnist --resume $out/checkpoint.safetensors
             (continues an interrupted run exactly where it stopped, with its settings)
  evaluate:  build/release/tutorials/08_evaluate $out/model.safetensors
             (test accuracy at 28x28, and on enlarged test images through position-embedding resampling)
  options:   build/release/tutorials/07_train_fashion_mnist --help
EOF
exit "$status"
