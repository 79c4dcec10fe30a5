#!/usr/bin/env bash
# A recipe of the paper's architecture on one GPU in one call: build Sprites from the 25 sheets, bench
# the paper preset (plain fp32, the fast path, and the fast path under torch.compile), train the
# recipe (default paper-fast: the paper preset on a short schedule; `paper` is the seed's schedule,
# about 30 minutes of an H200), score it with the shipped Sprites judge and every score of dsvae eval,
# and draw it. One summary line per stage, prefixed "[gpu_paper]"; every result lands under $OUT.
#
#   bash benchmarks/gpu_paper.sh [RECIPE]      (default paper-fast; from the repository root)
#
# On a GPU machine, with the sheets carried in build/lpc-sprites:
#   mkdir -p build && cp -r path/to/Sprites build/lpc-sprites     # 0.5 MB, ignored by git
# On a CPU, the same stages on the tiny preset (tests/test_gpu_script.py runs this):
#   DEVICE=cpu TRAIN_ARGS="--preset tiny --epochs 1 --max-steps 4" BENCH_PRESET=tiny BENCH_STEPS=1 \
#       EVAL_SEEDS=1 OUT=/tmp/gp bash benchmarks/gpu_paper.sh paper-fast
set -euo pipefail
cd "$(dirname "$0")/.."

RECIPE=${1:-paper-fast}
DEVICE=${DEVICE:-cuda}
BENCH_PRESET=${BENCH_PRESET:-paper}
TRAIN_ARGS=${TRAIN_ARGS:-}            # options over the recipe's (e.g. --max-minutes 5.5)
SHEETS=${SHEETS:-build/lpc-sprites}
OUT=${OUT:-build/gpu_paper_out}
WORK=${WORK:-build/gpu_paper}
EVAL_SEEDS=${EVAL_SEEDS:-3}
BENCH_STEPS=${BENCH_STEPS:-10}
PYTHON=${PYTHON:-python3}

export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 DSVAE_LOG_INTERVAL=${DSVAE_LOG_INTERVAL:-30}
mkdir -p "$OUT" "$WORK"
stage() { echo "[gpu_paper] $*" | tee -a "$OUT/summary.txt"; }
now() { date +%s.%N; }
since() { "$PYTHON" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
dsvae() { "$PYTHON" -m dsvae "$@"; }

t=$(now)
"$PYTHON" -c "import torch, numpy, PIL, safetensors, tqdm" || {
  echo "[gpu_paper] missing packages: carry wheels (see the device notes) or pip install -e ." >&2; exit 1; }
stage "python $("$PYTHON" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)')" \
  "device $("$PYTHON" -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')")"

t=$(now)
dsvae data sprites --sheets "$SHEETS" --out "$WORK/sprites" --force > "$OUT/data.log" 2>&1
stage "data: $(tail -n 1 "$OUT/data.log") ($(since "$t") s)"

if [ -n "${JUDGE:-}" ]; then
  stage "judge: $JUDGE (given)"
  JUDGE_ARGS=(--judge "$JUDGE")
else
  stage "judge: the shipped Sprites judge ($("$PYTHON" -c "from dsvae.evaluate.judge import SHIPPED_JUDGES; print(SHIPPED_JUDGES['sprites'][:12])")...)"
  JUDGE_ARGS=()
fi

bench_line() { "$PYTHON" -c "
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(f\"{r['preset']}: plain {r['plain_seq_per_s']:.1f} seq/s, fast {r['fast_seq_per_s']:.1f} seq/s \"
      f\"({r['fast_settings']['precision']}{', compiled' if sys.argv[2] == '1' else ''}), \"
      f\"{r['fast_tflop_per_s']:.1f} TFLOP/s = {100 * r['fast_peak_fraction']:.0f}% of the matmul peak\")" "$1" "$2"; }
t=$(now)
dsvae bench --preset "$BENCH_PRESET" --device "$DEVICE" --steps "$BENCH_STEPS" --json > "$OUT/bench.json" 2> "$OUT/bench.log"
stage "bench: $(bench_line "$OUT/bench.json" 0) ($(since "$t") s)"
t=$(now)
if dsvae bench --preset "$BENCH_PRESET" --device "$DEVICE" --steps "$BENCH_STEPS" --compile --json \
    > "$OUT/bench_compile.json" 2> "$OUT/bench_compile.log"; then
  stage "bench (torch.compile, default mode): $(bench_line "$OUT/bench_compile.json" 1) ($(since "$t") s)"
else
  stage "bench (torch.compile): failed, see bench_compile.log ($(since "$t") s)"
fi

t=$(now)
rm -rf "$WORK/run"
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of options
dsvae train --recipe "$RECIPE" --data "$WORK/sprites" --device "$DEVICE" --no-pictures $TRAIN_ARGS \
  --out "$WORK/run" > "$OUT/train.log" 2>&1
cp "$WORK/run/log.csv" "$WORK/run/env.json" "$WORK/run/train.json" "$WORK/run/recipe.toml" "$OUT/"
stage "train ($RECIPE): $(tail -n 1 "$OUT/train.log") ($(since "$t") s)"

t=$(now)
dsvae eval "$WORK/run" "${JUDGE_ARGS[@]}" --seeds "$EVAL_SEEDS" --device "$DEVICE" > "$OUT/eval.log" 2>&1
cp "$WORK/run/metrics.json" "$WORK/run/metrics.md" "$OUT/"
stage "eval: $("$PYTHON" -c "
import json, sys
m = json.load(open(sys.argv[1]))
ms, pp, sw = m.get('motion_scores') or {}, m.get('paper_protocol') or {}, m.get('swap') or {}
def v(d, k, scale=1.0):
    x = (d.get(k) or {}).get('mean')
    return 'n/a' if x is None else f'{scale * x:.4g}'
print(f\"Acc {v(ms, 'acc', 100)}% IS {v(ms, 'is')} H(y|x) {v(ms, 'h_yx')} H(y) {v(ms, 'h_y')} \"
      f\"attributes {v(pp, 'attributes_mean', 100)}% swap {v(sw, 'attributes_mean', 100)}% / \"
      f\"{v(sw, 'motion', 100)}% PSNR {m['reconstruction']['psnr']:.2f} dB\")" \
  "$OUT/metrics.json") ($(since "$t") s)"

t=$(now)
dsvae viz "$WORK/run" --device "$DEVICE" --out "$WORK/pictures" > "$OUT/viz.log" 2>&1
cp "$WORK/pictures/swap_matrix.gif" "$OUT/" 2>/dev/null || true
stage "viz: $(ls "$WORK/pictures" | wc -l) pictures in $WORK/pictures ($(since "$t") s)"
