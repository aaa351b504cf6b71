"""Stage `check_params`: validate the whole params file before any other stage runs.

dvc.yaml lists params.yaml whole for this stage only, so any change to it (a new key, a
typo such as ``temprature``) reruns this check, and every other stage depends on its output:
an unknown key or a bad value stops ``dvc repro`` and ``dvc exp run`` with one line naming
the key, before a stage deletes its outputs. The output's content never changes, so a valid
edit reruns only the stages that list the keys it changed. Without ``--output`` it only checks:
``make repro`` runs it first, because DVC reads params.yaml itself to resolve dvc.yaml, and an
empty or broken file would otherwise stop it with DVC's message, not one naming the key."""
from pathlib import Path

from pipeline.io import write_json
from pipeline.params import ParamsError
from stages.common import run_stage, stage_parser

# Constant on purpose: the stages downstream must not rerun because the params were checked.
VALID = {"params": "valid"}


def main(args, params):
    # run_stage's load_params has checked every key; what remains is what DVC would report in
    # its own words: a real dataset's folder that is not there.
    root = Path(params["data"]["root"])
    if params["dataset"] != "synthetic" and not root.is_dir():
        raise ParamsError(f"{args.params}: data.root: {root} is not a folder (the {params['dataset']} dataset "
                          "in its native layout)")
    if args.output:
        write_json(args.output, VALID)
    else:
        print(f"{args.params}: valid")


def parser():
    parser = stage_parser(__doc__)
    parser.add_argument("--output", metavar="PATH",
                        help="marker written when the params file is valid (its content never changes); left out: "
                             "only check (`make repro` does, before DVC reads the file itself)")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
