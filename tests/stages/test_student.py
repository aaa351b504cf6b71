"""stages/student.py run by hand on a frame cache without video (sensor files only): nothing is
trained, every output DVC declares is written and says the student was skipped, and evaluate
recognises the file (one made while there was no video, and only then)."""
import argparse
import json

import pytest
import torch

from tests.pipeline.workflow.helpers import write_split_files


def student_args(folder, method):
    return argparse.Namespace(
        split="cross_view", method=method, manifest=str(folder / "manifest.csv"), splits=str(folder / "splits.csv"),
        class_embeddings=str(folder / "embeddings.h5"), frames=str(folder / "frames.h5"),
        teacher_outputs=str(folder / "teacher_outputs.h5"), teachers=str(folder / "teachers.pt"),
        model=str(folder / "models" / f"{method}.pt"), checkpoint=str(folder / "checkpoints" / f"{method}.pt"),
        curves=str(folder / "dvclive" / method), no_progress=True)


@pytest.mark.parametrize("method", ["baseline", "distill"])
def test_without_video_the_student_is_skipped_and_its_outputs_say_so(tmp_path, capsys, method):
    from pipeline.frames import FrameSpec, write_empty_frame_cache
    from pipeline.params import validate_params
    from stages.student import main

    write_split_files(tmp_path)
    write_empty_frame_cache(tmp_path / "frames.h5", FrameSpec(2, 8))
    params = validate_params({"splits": {"protocols": ["cross_view"]}})
    args = student_args(tmp_path, method)
    main(args, params)  # the teacher outputs and teachers are not read: they do not exist here
    assert capsys.readouterr().out == (f"{method}[cross_view]: skipped, {args.frames} holds no frame (no video: "
                                       "the manifest has sensor files only)\n")
    saved = torch.load(args.model, weights_only=False)
    assert saved["kind"] == "student" and saved["skipped"] is True and "state" not in saved
    assert saved["reason"] == "no video: the manifest has sensor files only" and saved["split"] == "cross_view"
    assert saved["method"] == ("baseline" if method == "baseline" else params["distill"]["method"])
    assert torch.load(args.checkpoint, weights_only=False)["fingerprint"] is None  # never resumed
    assert json.loads((tmp_path / "dvclive" / method / "metrics.json").read_text()) == {"skipped": saved["reason"]}
    assert (tmp_path / "dvclive" / method / "plots" / "metrics" / "val_accuracy.tsv").read_text() == \
        "step\tval_accuracy\n"


def test_a_kept_checkpoint_survives_a_skipped_run(tmp_path):
    from pipeline.frames import FrameSpec, write_empty_frame_cache
    from pipeline.params import validate_params
    from stages.student import main

    write_split_files(tmp_path)
    write_empty_frame_cache(tmp_path / "frames.h5", FrameSpec(2, 8))
    args = student_args(tmp_path, "baseline")
    (tmp_path / "checkpoints").mkdir()
    torch.save({"fingerprint": "earlier training"}, args.checkpoint)
    main(args, validate_params({"splits": {"protocols": ["cross_view"]}}))
    assert torch.load(args.checkpoint, weights_only=False) == {"fingerprint": "earlier training"}


def test_evaluate_recognises_skipped_students_only_while_there_is_no_video(tmp_path):
    from pipeline.errors import InputError
    from pipeline.frames import FrameSpec, write_empty_frame_cache
    from pipeline.workflow.evaluation import skipped_students
    from pipeline.workflow.inputs import SplitData
    from pipeline.workflow.model_files import skipped_model

    inputs = write_split_files(tmp_path)  # a frame cache with video
    data = SplitData("cross_view", inputs)
    torch.save(skipped_model("student", "baseline", data, "no video"), tmp_path / "baseline.pt")
    with pytest.raises(InputError, match=r"baseline\.pt: its training was skipped \(no video\), but .*frames\.h5 "
                                         r"holds videos; rerun its stage"):
        skipped_students({"baseline": str(tmp_path / "baseline.pt")}, inputs.frames)
    write_empty_frame_cache(tmp_path / "frames.h5", FrameSpec(2, 8))
    assert skipped_students({"baseline": str(tmp_path / "baseline.pt")}, inputs.frames) == {
        "baseline": str(tmp_path / "baseline.pt")}
