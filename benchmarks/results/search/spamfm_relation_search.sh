#!/usr/bin/env bash
# Issue 10: which SPAMFM relation (teacher.spamfm_relation) to use, chosen on VALIDATION
# (held out along each split's axis), fused teacher, seeds 0 and 1, UTD-MHAD cross_subject (the split
# where the paper's SPAMFM lost to no SPAMFM; the 2-core CPU budget allowed one split).
# (Without SPAMFM, validation is known from benchmarks/results/utd_mhad_teachers.json.)
# Run from a checkout of the commit that added the relation (a git worktree), so the code
# under test does not change while it runs.
set -e
cd "$(dirname "$0")/../../.."
export PATH=$PWD/.venv/bin:$PATH
work=benchmarks/.work/spamfm_search
mkdir -p $work
run() {
  name=$1; teachers=$2; shift 2
  if [ ! -d $work/$name/preprocessing ] && [ -d $work/gram/preprocessing ]; then
    mkdir -p $work/$name && cp -a $work/gram/preprocessing $work/$name/   # same data sections and code
  fi
  python -m benchmarks.utd_mhad_teachers --root ../shared/data/utd_mhad --teachers $teachers \
    --splits cross_subject --seeds 0 1 --workdir $work/$name --output $work/$name.json "$@" | grep -v '^{' | sed "s/^/$name: /"
}
run gram fused
run softmax_t0.1 fused -S teacher.spamfm_relation=softmax -S teacher.spamfm_temperature=0.1
run self fused -S teacher.spamfm_relation=self
echo done
