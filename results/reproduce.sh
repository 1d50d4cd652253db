#!/usr/bin/env bash
# Regenerate results/ with the CLI: every method with the `paper` config, evaluated, plotted, tabulated.
# Each run resumes where it stopped (--resume), so this script can be re-run after an interruption.
# Usage: bash results/reproduce.sh [sinusoid] [nav2d] [halfcheetah-dir] [halfcheetah-vel]
#        (default: all four; two runs at a time on two cores; the HalfCheetah runs take days on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin/metarl-lite

sinusoid() {
  run() {  # algo shots
    local out="results/sinusoid/$1_$2shot"
    $BIN train --algo "$1" --task sinusoid --config paper --shots "$2" --out "$out" --resume --quiet
    # Reptile trains with alpha = 0.02 on 2K points; on 5 points that step size diverges on some tasks.
    local lr=(); [[ $1 == reptile && $2 == 5 ]] && lr=(--adapt-lr 0.01)
    $BIN evaluate "$out" --adapt-steps 10 --tasks 600 "${lr[@]}" --json
  }
  for algo in maml fomaml reptile pmaml pretrain random; do
    run "$algo" 5 &
    run "$algo" 10 &
    wait
  done
  $BIN plot results/sinusoid/*_5shot --out results/sinusoid/sinusoid_5shot.png
  $BIN plot results/sinusoid/*_10shot --out results/sinusoid/sinusoid_10shot.png
  $BIN table results/sinusoid --update-readme README.md
}

nav2d() {
  lane() {  # algo... trained and evaluated one after the other
    for algo in "$@"; do
      $BIN train --algo "$algo" --task nav2d --config paper --out "results/nav2d/$algo" --resume --quiet
      $BIN evaluate "results/nav2d/$algo" --adapt-steps 3 --tasks 40 --json
    done
  }
  lane maml oracle &
  lane pretrain fomaml reptile pmaml promp random &
  wait
  $BIN plot results/nav2d/*/ --out results/nav2d/nav2d.png
  $BIN table results/nav2d --update-readme README.md
}

mujoco() {  # task: MAML and the baselines (paper Fig. 5); on HalfCheetahDir also Reptile, pmaml and ProMP
  local task=$1
  lane() {
    for algo in "$@"; do
      $BIN train --algo "$algo" --task "$task" --config paper --out "results/$task/$algo" --resume --quiet
      $BIN evaluate "results/$task/$algo" --adapt-steps 3 --tasks 40 --json
    done
  }
  local more=()
  [[ $task == halfcheetah-dir ]] && more=(reptile pmaml promp)
  lane maml oracle &
  lane random pretrain "${more[@]}" &
  wait
  $BIN plot results/"$task"/*/ --out "results/$task/$task.png"
  $BIN table "results/$task" --update-readme README.md
}

tasks=("$@")
(( $# )) || tasks=(sinusoid nav2d halfcheetah-dir halfcheetah-vel)
for task in "${tasks[@]}"; do
  case $task in
    sinusoid | nav2d) $task ;;
    halfcheetah-dir | halfcheetah-vel) mujoco "$task" ;;
    *) echo "unknown task $task; choose sinusoid, nav2d, halfcheetah-dir or halfcheetah-vel" >&2; exit 2 ;;
  esac
done
