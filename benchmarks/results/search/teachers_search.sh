#!/usr/bin/env bash
# Issue 10 part 3: candidate teacher settings, fused teacher, cross_subject, seed 0, chosen on validation.
cd /work/main
export PATH=/work/main/.venv/bin:$PATH
run() {
  name=$1; shift
  python -m benchmarks.utd_mhad_teachers --root ../shared/data/utd_mhad --splits cross_subject --teachers fused \
    --seeds 0 --workdir benchmarks/.work/search/$name --output benchmarks/.work/search/$name.json "$@" \
    | grep -v '^{' | sed "s/^/$name: /"
}
run warp05 -S teacher.time_warp=0.5
run decay5e-3 -S teacher.weight_decay=0.005
run warp05_decay5e-3 -S teacher.time_warp=0.5 -S teacher.weight_decay=0.005
run crop06_warp05 -S teacher.time_crop=0.6 -S teacher.time_warp=0.5
echo done
