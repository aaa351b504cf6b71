#!/usr/bin/env bash
# GPU readiness in one command on a machine with CUDA (a few minutes on one H100): the
# paper-size student's baseline and distillation steps (resnet50, 8 x 224^2, bf16,
# channels_last), streamed loading through train.workers (clips/s, time waiting on data),
# and a 1-GPU torchrun run of the distill stage on the tiny configuration.
# Writes benchmarks/results/gpu.json (OUTPUT=... to change). Extra arguments go to
# `python -m benchmarks.gpu` (see its --help). The tiny project is prepared first where it is
# missing; that needs the full requirements (decord, pyts, gensim): on a GPU machine without
# them, prepare it elsewhere with `python -m benchmarks.gpu --prepare benchmarks/.work/gpu_tiny`
# and copy the folder over.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
PROJECT="${PROJECT:-benchmarks/.work/gpu_tiny}"
"$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "benchmarks/gpu.sh: no CUDA device here")'
[ -f "$PROJECT/data/cross_subject/teacher_outputs.h5" ] || "$PYTHON" -m benchmarks.gpu --prepare "$PROJECT"
exec "$PYTHON" -m benchmarks.gpu --project "$PROJECT" --output "${OUTPUT:-benchmarks/results/gpu.json}" "$@"
