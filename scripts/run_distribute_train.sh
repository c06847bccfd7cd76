#!/usr/bin/env bash
# Usage: bash scripts/run_distribute_train.sh CONFIG NUM_WORKERS [extra train.py args...]
# Data-parallel training with msrun: NUM_WORKERS processes on this machine (one per GPU/NPU).
# Several machines: the same command on each, with NNODES, NODE_RANK (0..NNODES-1),
# MASTER_ADDR and MASTER_PORT (the NODE_RANK=0 machine's address and a free port) exported.
set -euo pipefail
if [ $# -lt 2 ] || [[ "$1" == -* ]] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
    echo "Usage: bash scripts/run_distribute_train.sh CONFIG NUM_WORKERS [train.py args...]" >&2
    exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="$1"
workers="$2"
shift 2
exec python "$here/train.py" "$config" --msrun "$workers" "$@"
