#!/usr/bin/env bash
# Train every preset into demo/weights/<variant>/ (the weights the Space bundles) and print a summary table.
#
#   training/train_all.sh [DATASET] [more train.py flags...]
#
# VARIANTS="deep conv" trains only those. DATASET defaults to ../shared/data/mnist (relative to the repository root). Checkpoints and logs go
# to runs/<variant>/ (ignored by git). LAUNCH picks the launcher, e.g.
#   LAUNCH="accelerate launch --multi_gpu --num_processes 2" training/train_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PATH="$PWD/.venv/bin:$PATH"; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
dataset="${1:-../shared/data/mnist}"
shift || true
launch="${LAUNCH:-accelerate launch --num_cpu_threads_per_process $(nproc)}"  # accelerate gives a CPU process 1 thread by default
variants="${VARIANTS:-$(python -c "from autoencoders import VARIANTS; print(' '.join(VARIANTS))")}"

for variant in $variants; do
  echo "=== $variant"
  $launch training/train.py --variant "$variant" --dataset "$dataset" --output_dir "demo/weights/$variant" --overwrite_output_dir \
    --checkpoint_dir "runs/$variant/checkpoints" --logging_dir "runs/$variant/logs" "$@"
done
python training/summary.py $(for variant in $variants; do echo "demo/weights/$variant"; done)
