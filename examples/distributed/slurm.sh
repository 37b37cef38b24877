#!/bin/bash
# Sharded NRC measurement on a Slurm cluster: a job array measures one shard per task, and a
# job that depends on the whole array merges the shard states into the report.
#
#   sbatch examples/distributed/slurm.sh acts.safetensors 16        # one file, 16 shards
#   ACTS_GLOB='acts/rank-*.safetensors' sbatch examples/distributed/slurm.sh - 8   # one file per rank
#
# Needs `deep-nrc` on the nodes' PATH (npm i -g deep-nrc, or `npx deep-nrc`) and a shared folder
# for the states (OUT, default ./nrc-states). Each state is a few MB per 512-wide layer.
#SBATCH --job-name=nrc-submit
#SBATCH --time=00:05:00
#SBATCH --ntasks=1
set -euo pipefail

DATA=${1:?usage: slurm.sh <acts.safetensors | folder | -> <shards> [deep-nrc options…]}
SHARDS=${2:?number of shards}
shift 2
OUT=${OUT:-$PWD/nrc-states}
mkdir -p "$OUT"

# One task per shard. With DATA = '-', task k reads the k-th file of ACTS_GLOB (one per rank);
# otherwise it reads the k-th of SHARDS equal parts of DATA's samples.
ARRAY=$(sbatch --parsable --array=0-$((SHARDS - 1)) --job-name=nrc-shard \
  --cpus-per-task="${CPUS:-4}" --mem="${MEM:-8G}" --time="${TIME:-01:00:00}" \
  --output="$OUT/shard-%a.log" --wrap "
    set -euo pipefail
    k=\$SLURM_ARRAY_TASK_ID
    if [ '$DATA' = '-' ]; then
      files=( \$(ls ${ACTS_GLOB:-} | sort) )
      deep-nrc accumulate \"\${files[\$k]}\" --state '$OUT'/shard-\$k.nrc.safetensors -q $*
    else
      deep-nrc accumulate '$DATA' --shard \$k/$SHARDS --state '$OUT'/shard-\$k.nrc.safetensors -q $*
    fi")

# Merge after every shard succeeded (afterok): the report on stdout (merge.log), JSON and the
# merged state (merge it with later runs' states, or `deep-nrc report` it again).
sbatch --dependency=afterok:"$ARRAY" --job-name=nrc-merge --time=00:30:00 --mem=8G \
  --output="$OUT/merge.log" --wrap "
    deep-nrc merge '$OUT'/shard-*.nrc.safetensors --state '$OUT'/merged.nrc.safetensors \
      --json '$OUT'/report.json"
echo "submitted shards (job $ARRAY) and their merge; results in $OUT"
