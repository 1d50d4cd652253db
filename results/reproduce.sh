#!/usr/bin/env bash
# Regenerate results/ with the CLI: every method with the `paper` config, evaluated, plotted, tabulated.
# Each run resumes where it stopped (--resume), so this script can be re-run after an interruption.
# Usage: bash results/reproduce.sh [sinusoid] [nav2d] [halfcheetah-dir] [halfcheetah-vel] [ant-dir]
#        (default: all five; two runs at a time on two cores; the MuJoCo runs take days on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin/metarl-lite}  # BIN=echo prints the commands instead (a dry run)

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

evaluated() {  # run folder: whether evaluation.json is of the run's final checkpoint
  python3 - "$1" <<'PY' 2>/dev/null
import json, sys
run = sys.argv[1]
evaluation, config = (json.load(open(f"{run}/{name}.json")) for name in ("evaluation", "config"))
sys.exit(evaluation.get("iteration") != config["iterations"])
PY
}

mujoco_run() {  # task algo: train (or resume) one run, then evaluate it unless that is done
  local out="results/$1/$2"
  $BIN train --algo "$2" --task "$1" --config paper --out "$out" --resume --quiet
  evaluated "$out" || $BIN evaluate "$out" --adapt-steps 3 --tasks 40 --json
}

mujoco() {  # tasks...: MAML and the baselines (paper Fig. 5); on HalfCheetahDir also Reptile, pmaml and ProMP
  local jobs=() task algo
  for algo in maml random oracle pretrain; do
    for task in "$@"; do jobs+=("$task $algo"); done
  done
  if [[ " $* " == *" halfcheetah-dir "* ]]; then jobs+=("halfcheetah-dir "{reptile,pmaml,promp}); fi
  # Two runs at a time across all tasks, in this order, each as soon as a core is free.
  export BIN; export -f evaluated mujoco_run
  printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 bash -c 'mujoco_run "$@"' _
  for task in "$@"; do
    $BIN plot results/"$task"/*/ --out "results/$task/$task.png"
    $BIN table "results/$task" --update-readme README.md
  done
}

ant_dir() {  # MAML and its bounds at a quarter of the paper's episodes per meta-iteration (README, AntDir)
  lane() {  # algo meta-batch [train options]
    local out="results/ant-dir/$1"
    $BIN train --algo "$1" --task ant-dir --config paper --meta-batch "$2" --episodes-per-task 10 --out "$out" \
      --resume --quiet "${@:3}"
    evaluated "$out" || $BIN evaluate "$out" --adapt-steps 3 --tasks 40 --json
  }
  lane random 20
  lane maml 20 --workers 2 --threads 2 &
  lane oracle 40 &  # the joint baselines' twice the tasks: MAML's environment steps
  wait
  $BIN plot results/ant-dir/*/ --out results/ant-dir/ant-dir.png
  $BIN table results/ant-dir --update-readme README.md
}

tasks=("$@")
(( $# )) || tasks=(sinusoid nav2d halfcheetah-dir halfcheetah-vel ant-dir)
cheetahs=()
for task in "${tasks[@]}"; do
  case $task in
    sinusoid | nav2d) $task ;;
    halfcheetah-dir | halfcheetah-vel) cheetahs+=("$task") ;;
    ant-dir) ;;
    *) echo "unknown task $task; choose sinusoid, nav2d, halfcheetah-dir, halfcheetah-vel or ant-dir" >&2; exit 2 ;;
  esac
done
if (( ${#cheetahs[@]} )); then mujoco "${cheetahs[@]}"; fi
if [[ " ${tasks[*]} " == *" ant-dir "* ]]; then ant_dir; fi
