#!/usr/bin/env bash
# Regenerate results/ with the CLI: every method, 5- and 10-shot sinusoid, the `paper` config.
# Each run resumes where it stopped (--resume), so this script can be re-run after an interruption.
# Usage: bash results/reproduce.sh [algo ...]   (default: all; runs two at a time on two cores)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin/metarl-lite
ALGOS=("${@:-maml fomaml reptile pmaml pretrain random}")
run() {  # algo shots
  local out="results/sinusoid/$1_$2shot"
  $BIN train --algo "$1" --task sinusoid --config paper --shots "$2" --out "$out" --resume --quiet
  # Reptile trains with alpha = 0.02 on 2K points; on 5 points that step size diverges on some tasks.
  local lr=(); [[ $1 == reptile && $2 == 5 ]] && lr=(--adapt-lr 0.01)
  $BIN evaluate "$out" --adapt-steps 10 --tasks 600 "${lr[@]}" --json
}
for algo in ${ALGOS[*]}; do
  run "$algo" 5 &
  run "$algo" 10 &
  wait
done
.venv/bin/metarl-lite plot results/sinusoid/*_5shot --out results/sinusoid/sinusoid_5shot.png
.venv/bin/metarl-lite plot results/sinusoid/*_10shot --out results/sinusoid/sinusoid_10shot.png
