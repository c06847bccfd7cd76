#!/usr/bin/env bash
# Usage: bash scripts/run_eval.sh CONFIG CKPT [test.py args...]
# e.g.   bash scripts/run_eval.sh work_dirs/x/x.py work_dirs/x/best.ckpt --confusion-matrix cm.png
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 2 ]; then
    echo "Usage: bash scripts/run_eval.sh CONFIG CKPT [scripts/test.py args...]" >&2
    exit 2
fi
exec python "$here/test.py" "$@"
