#!/usr/bin/env bash
# Usage: bash scripts/run_train.sh [CONFIG] [extra train.py args...]
# Without CONFIG: trains the demo config, drawing the demo data first if it is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
demo_config="configs/resnet/resnet18_1xb64_demo-32px.py"
if [ $# -eq 0 ] || [[ "$1" == -* ]]; then
    config="$here/../$demo_config"
    [ -d data/demo/train ] || python "$here/make_demo_data.py" --out data/demo
else
    config="$1"
    shift
fi
exec python "$here/train.py" "$config" "$@"
