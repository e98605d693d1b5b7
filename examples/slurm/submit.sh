#!/usr/bin/env bash
# Submit a whole DreamBench sweep to SLURM: SHARDS array tasks, one GPU each, then one job that
# scores everything and writes the report once all of them have ended.
#
#   SHARDS=8 examples/slurm/submit.sh runs/sweep --method dreambooth,textual-inversion --subjects all \
#       --profile sd15
#
# Options after RUN_DIR go to every `bench run` unchanged (they must be the same for all tasks, or
# the run directory refuses the task that differs). Cluster-specific settings (partition, account,
# time) go in SBATCH_* variables, e.g. SBATCH_PARTITION=gpu SBATCH_ACCOUNT=lab, which sbatch reads.
set -euo pipefail
RUN_DIR="${1:?usage: SHARDS=N submit.sh RUN_DIR [bench run options...]}"
shift
SHARDS="${SHARDS:-8}"
case "$SHARDS" in '' | *[!0-9]* | 0)
    echo "submit.sh: SHARDS must be a positive number, not '$SHARDS'" >&2
    exit 2
    ;;
esac
HERE="$(cd "$(dirname "$0")" && pwd)"
# Check the options once on the login node (no GPU work): a typo fails here, not in N queued jobs.
# --device cuda as in the jobs (a --device among the options wins): the login node plans for the GPU nodes.
bench run --device cuda --output-dir "$RUN_DIR" --dry-run "$@"
array=$(BENCH_SHARDS="$SHARDS" sbatch --parsable --export=ALL,BENCH_SHARDS="$SHARDS" --array="0-$((SHARDS - 1))" \
    "$HERE/shard.sbatch" "$RUN_DIR" "$@")
array="${array%%;*}" # --parsable prints "jobid" or "jobid;cluster"
finish=$(sbatch --parsable --dependency="afterany:$array" "$HERE/finish.sbatch" "$RUN_DIR" "$@")
echo "submitted: shards $array (array 0-$((SHARDS - 1))), then scoring and report ${finish%%;*}"
echo "follow: squeue -j $array,${finish%%;*}; the report will be $RUN_DIR/report/index.html"
