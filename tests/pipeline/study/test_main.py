"""pipeline/study/__main__.py: the command's help and its one-line errors."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.study.__main__ import main, parse_args
from tests.conftest import REPO


def test_help_describes_the_study_and_shows_a_spec():
    done = subprocess.run([sys.executable, "-m", "pipeline.study", "--help"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0
    for text in ("usage: python -m pipeline.study", "run record", "--root DATA", "--workdir DIR", "--results DIR",
                 "spec file (YAML", "arms:", "studies/utd_mhad_depth.yaml", "--plan", "--recorded-only", "fractions:", "heads:",
                 "cell_of:"):
        assert text in done.stdout, text


def test_options_and_their_defaults():
    args = parse_args(["s.yaml"])
    assert (args.root, args.workdir, args.results, args.search_only, args.train_finals) == (None, None, None, False,
                                                                                            False)
    assert parse_args(["s.yaml", "--root", "/d", "--search-only"]).root.name == "d"


def test_a_study_error_is_one_line_and_exit_status_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("preset: presets/utd_mhad_depth.yaml\n")
    with pytest.raises(SystemExit) as stopped:
        main([str(bad)])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error == f"error: {bad}: missing key split\n"


def test_plan_and_recorded_only_exclude_each_other(capsys):
    assert parse_args(["s.yaml", "--recorded-only"]).recorded_only
    with pytest.raises(SystemExit) as stopped:
        parse_args(["s.yaml", "--plan", "--recorded-only"])
    assert stopped.value.code == 2 and "choose one" in capsys.readouterr().err


def test_fraction_limits_the_plan_to_the_fractions_named(capsys, tmp_path):
    spec = str(REPO / "studies/utd_mhad_pseudo_labels.yaml")
    main([spec, "--plan", "--fraction", "0.25", "--results", str(tmp_path)])  # an empty record: every run missing
    planned = capsys.readouterr().out
    assert "utd_mhad_pseudo_labels_f0.25:" in planned
    assert "_f0.1:" not in planned and "_f0.5:" not in planned
    assert "cross_modal_shuffled seed 14" in planned and "video_only seed 14" in planned
    for argv, message in (([spec, "--plan", "--fraction", "0.3"], "--fraction 0.3 is not one of the spec's "
                                                                   "fractions (0.1, 0.25, 0.5)"),
                          ([str(REPO / "studies/utd_mhad_depth.yaml"), "--plan", "--fraction", "0.25"],
                           "--fraction needs a label-fraction study")):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2 and message in capsys.readouterr().err
