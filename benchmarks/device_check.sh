#!/usr/bin/env bash
# Before a long run on your own GPU/Ascend machine: what MindSpore can use there, and how fast.
#
#   bash benchmarks/device_check.sh            # from the repo root; under 8 minutes
#   PYTHON=/path/to/python bash benchmarks/device_check.sh
#
# Prints: the device ms_cls would use, the MindSpore build, the device plugins in the installed
# package and the libraries each one misses (with the pip package or toolkit that has them), the
# amp level ms_cls chooses, ResNet-50 train-step img/s at batch 128 and 256 with that amp level,
# the training loader's img/s with all cores, and the accuracy of one short demo training
# (data and work dir in a temporary folder, removed at the end). It installs nothing. Without
# a usable GPU/Ascend it says so and runs the same steps on CPU with small batches and sizes
# (about 2 minutes on 2 cores). Each step has a time bound (in all 470 s) and a failing step
# does not stop the others.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export GLOG_v=3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ms_cls-device-check.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
START=$SECONDS

section() { printf '\n== %s (%d s so far)\n' "$1" $((SECONDS - START)); }
# run a step with a time bound; a failure is reported and the script goes on
bounded() {
    local limit=$1; shift
    timeout "$limit" "$@"
    local code=$?
    if [ "$code" = 124 ]; then echo "(stopped after ${limit} s)"; elif [ "$code" != 0 ]; then
        echo "(failed with exit code $code)"; fi
}

section "MindSpore, device, plugins"
if ! "$PY" -c 'import mindspore' 2>/dev/null; then
    echo "MindSpore cannot be imported by $PY:"
    "$PY" -c 'import mindspore' 2>&1 | tail -3
    echo "Install it first: pip install -r requirements.txt"
    exit 1
fi
bounded 60 "$PY" benchmarks/device_check.py info | tee "$TMP/info.txt"
DEVICE=$(sed -n 's/^device ms_cls uses.*: //p' "$TMP/info.txt")
DEVICE=${DEVICE:-CPU}

if [ "$DEVICE" = CPU ]; then
    echo "No GPU or Ascend device found: the checks below run on CPU, small (ResNet-50 at 64 px,"
    echo "batch 8 and 16; demo training 10 epochs), to show that the tool chain works."
    STEP_ARGS=(--batches 8 16 --size 64 --steps 3)
    LOADER_CASE=demo-32px
    EPOCHS=10
else
    STEP_ARGS=(--batches 128 256 --size 224 --steps 10)
    LOADER_CASE=imagenet-224px
    EPOCHS=30
fi

section "ResNet-50 train step on $DEVICE"
bounded 200 "$PY" benchmarks/device_check.py train-step "${STEP_ARGS[@]}"

section "training loader with all $(nproc) cores"
bounded 90 "$PY" benchmarks/loader_throughput.py --cases "$LOADER_CASE" --workers "$(nproc)" \
    --rounds 1 | grep -E '^\|'

section "demo training ($EPOCHS epochs, configs/resnet/resnet18_1xb64_demo-32px.py)"
if bounded 30 "$PY" scripts/make_demo_data.py --out "$TMP/demo" >/dev/null; then
    bounded 100 "$PY" scripts/train.py configs/resnet/resnet18_1xb64_demo-32px.py \
        --work-dir "$TMP/work" --cfg-options "data.train.data_prefix=$TMP/demo/train" \
        "data.val.data_prefix=$TMP/demo/val" "data.test.data_prefix=$TMP/demo/test" \
        "runner.max_epochs=$EPOCHS" >"$TMP/train.txt" 2>&1
    grep -E 'device|Done in|Error|error' "$TMP/train.txt" | tail -4
fi

section "done"
echo "Temporary files removed: $TMP"
