"""benchmarks/common.py: every result carries the command, the commit and the machine."""
import json


def test_results_carry_the_command_commit_and_machine(tmp_path, capsys):
    from benchmarks import common

    output = tmp_path / "results" / "x.json"
    result = common.finish({"benchmark": "x", "speedup": 2.0}, "benchmarks.x", ["--steps", "3"], output,
                           printed=["benchmark", "command"])
    saved = json.loads(output.read_text())
    assert saved == result and saved["command"] == "python -m benchmarks.x --steps 3" and saved["speedup"] == 2.0
    assert len(saved["git"]["commit"]) == 40 and saved["machine"]["cores"] >= 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "benchmark": "x", "command": "python -m benchmarks.x --steps 3"}
    args = common.parser("benchmarks.x", "X: what it measures.\n\nMore.").parse_args([])
    assert args.output is None
