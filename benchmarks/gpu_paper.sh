#!/usr/bin/env bash
# The paper configuration on one GPU in one call (issue 18): build Sprites from the 25 sheets, train
# the Sprites judge, bench the paper preset, train it with the paper's optimizer (Adam 2e-4, betas
# 0.9/0.999, batch 25, the plain ELBO) for as long as the budget allows, then score and draw it.
# One summary line per stage, prefixed "[gpu_paper]"; every result lands under $OUT.
#
# On a GPU machine, from the repository root, with the sheets carried in build/lpc-sprites:
#   mkdir -p build && cp -r path/to/Sprites build/lpc-sprites     # 0.5 MB, ignored by git
#   run: bash benchmarks/gpu_paper.sh      (carry: ["build/lpc-sprites"], timeout_s 600)
# On a CPU, the same stages with the tiny preset and a judge trained before (JUDGE=DIR skips the
# judge stage; on 2 cores a Sprites judge epoch takes minutes):
#   PRESET=tiny DEVICE=cpu TRAIN_MINUTES=0.2 JUDGE=judges/sprites BENCH_STEPS=1 EVAL_SEEDS=1 \
#       OUT=/tmp/gp bash benchmarks/gpu_paper.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PRESET=${PRESET:-paper}
DEVICE=${DEVICE:-cuda}
SHEETS=${SHEETS:-build/lpc-sprites}
OUT=${OUT:-build/gpu_paper_out}
WORK=${WORK:-build/gpu_paper}
TRAIN_MINUTES=${TRAIN_MINUTES:-5.5}   # the training budget inside one 10-minute call
EPOCHS=${EPOCHS:-200}                 # the paper's schedule; the budget usually ends it first
JUDGE_EPOCHS=${JUDGE_EPOCHS:-5}
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

t=$(now)
if [ -n "${JUDGE:-}" ]; then
  stage "judge: $JUDGE (trained before; JUDGE= unset trains one here)"
else
  JUDGE="$WORK/judge"
  dsvae judge train --data "$WORK/sprites" --out "$JUDGE" --epochs "$JUDGE_EPOCHS" --device "$DEVICE" \
    --force > "$OUT/judge.log" 2>&1
  stage "judge: $(tail -n 1 "$OUT/judge.log") ($(since "$t") s)"
fi
cp "$JUDGE/metrics.json" "$OUT/judge_metrics.json"

t=$(now)
dsvae bench --preset "$PRESET" --device "$DEVICE" --steps "$BENCH_STEPS" --json > "$OUT/bench.json" 2> "$OUT/bench.log"
stage "bench: $("$PYTHON" -c "
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(f\"{r['preset']}: plain {r['plain_seq_per_s']:.1f} seq/s, fast {r['fast_seq_per_s']:.1f} seq/s \"
      f\"({r['fast_settings']['precision']}), {r['fast_tflop_per_s']:.1f} TFLOP/s = \"
      f\"{100 * r['fast_peak_fraction']:.0f}% of the matmul peak\")" "$OUT/bench.json") ($(since "$t") s)"

t=$(now)
rm -rf "$WORK/run"
dsvae train --data "$WORK/sprites" --preset "$PRESET" --epochs "$EPOCHS" --batch-size 25 --lr 2e-4 \
  --device "$DEVICE" --max-minutes "$TRAIN_MINUTES" --no-pictures --out "$WORK/run" > "$OUT/train.log" 2>&1
cp "$WORK/run/log.csv" "$WORK/run/env.json" "$WORK/run/train.json" "$OUT/"
stage "train: $(tail -n 1 "$OUT/train.log") ($(since "$t") s)"

t=$(now)
dsvae eval "$WORK/run" --judge "$JUDGE" --seeds "$EVAL_SEEDS" --device "$DEVICE" > "$OUT/eval.log" 2>&1
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
