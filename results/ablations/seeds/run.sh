#!/usr/bin/env bash
# MAML on HalfCheetahDir and HalfCheetahVel with seeds 1 and 2 (the reference runs in results/<task>/maml
# are seed 0): the `paper` config, trained one run at a time with both cores, then evaluated with the
# reference protocol. Every run resumes where it stopped, so the script can be re-run after an interruption.
# Usage: bash results/ablations/seeds/run.sh   (about 35 minutes per run on an idle 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/../../.."
BIN=${BIN:-.venv/bin/metarl-lite}  # BIN=echo prints the commands instead (a dry run)
for task in halfcheetah-dir halfcheetah-vel; do
  for seed in 1 2; do
    out="results/ablations/seeds/$task/maml-seed$seed"
    $BIN train --algo maml --task "$task" --config paper --seed "$seed" --out "$out" --resume --quiet \
      --workers 2 --threads 2
    [[ -f $out/evaluation.json ]] || $BIN evaluate "$out" --adapt-steps 3 --tasks 40 --json
  done
done
