#!/usr/bin/env bash
# Does a change keep training bit for bit? Trains 15 steps of each built-in method's recipe with the
# code of git revision REV (a temporary worktree) and with the working tree, and compares the
# sha256 of the checkpoints (model and optimizer state). Prints one line per recipe and exits 1 when
# any differs. Runs on the CPU in a few minutes; the recipes are the ones whose settings every
# version since methods were named reads the same way.
#
#     bash benchmarks/checkpoint_identity.sh 5a95416
#     ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 bash benchmarks/checkpoint_identity.sh HEAD~3
set -euo pipefail
rev=${1:?usage: checkpoint_identity.sh REV}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach "$work/base" "$rev" >/dev/null 2>&1

# recipe, and the options that put it on the embedded data: DBSE, C-DSVAE, DSVAE, SPYL
recipes=(
  "quickstart"
  "quickstart-cdsvae"
  "quickstart-silhouette"
  "sprites-spyl --data synthetic"
)
status=0
for entry in "${recipes[@]}"; do
  name=${entry%% *}
  sums=()
  for code in "$work/base" "$root"; do
    out="$work/runs/$(basename "$code")-$name"
    # shellcheck disable=SC2086
    PYTHONPATH="$code/src" python -m dsvae train --recipe $entry --max-steps 15 --no-progress \
      --no-pictures --out "$out" >/dev/null 2>&1
    sums+=("$(cat "$out"/checkpoints/last/model.safetensors "$out"/checkpoints/last/state.safetensors | sha256sum | cut -c1-16)")
  done
  if [ "${sums[0]}" = "${sums[1]}" ]; then
    echo "$name: identical (${sums[0]})"
  else
    echo "$name: DIFFERENT ($rev ${sums[0]}, working tree ${sums[1]})"
    status=1
  fi
done
exit $status
