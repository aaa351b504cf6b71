"""What a distilled student learns from (pipeline/workflow/distill_targets.py): the training
clips with unlabeled labels hidden, the teachers' pseudo-labels, the hard-label control and
the self-training control's targets, by recording."""
import pandas as pd
import pytest
import torch

from pipeline.workflow.distill_targets import (
    HARD_LOGIT, HIDDEN, DistillTargets, pseudo_labels, student_training_samples,
)


class FakeSplit:
    def __init__(self, table):
        self.table = table

    def samples(self, part):
        return self.table[self.table["part"] == part].sort_values("sample_id").reset_index(drop=True)


def test_training_samples_hide_every_unlabeled_label():
    table = pd.DataFrame({"sample_id": ["a_v1", "a_v2", "b_v1", "c_v1", "d_v1"],
                          "recording_id": ["a", "a", "b", "c", "d"], "label": [0, 0, 1, 2, 1],
                          "class_name": ["wave", "wave", "squat", "swipe", "squat"],
                          "part": ["train", "train", "unlabeled", "unlabeled", "test"]})
    samples = student_training_samples(FakeSplit(table))
    assert samples["sample_id"].tolist() == ["a_v1", "a_v2", "b_v1", "c_v1"]  # no test clip
    assert samples["label"].tolist() == [0, 0, HIDDEN, HIDDEN]
    assert samples["class_name"].tolist() == ["wave", "wave", "", ""]
    # Without unlabeled recordings: exactly the labelled clips.
    labelled = student_training_samples(FakeSplit(table[table["part"] != "unlabeled"]))
    assert labelled["label"].tolist() == [0, 0]


def test_pseudo_labels_are_the_fused_teachers_prediction():
    # Row 0: mean logits (5, 0.5, 0). Row 1: (0, 1, 1.5). Row 2: mean logits (2, 1.75, 0) pick 0,
    # where the mean probability would pick 1 (0.490 vs 0.494): the teachers fuse logits.
    first = {"logits": torch.tensor([[10.0, 0.0, 0.0], [0.0, 0.0, 3.0], [4.0, 0.0, 0.0]])}
    second = {"logits": torch.tensor([[0.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 3.5, 0.0]])}
    assert pseudo_labels([first, second]).tolist() == [0, 2, 0]


class FakeCache:
    """Two sensors; recording r's logits favour class r % 3 on both."""

    def batch(self, ids, epoch=0):
        rows = torch.tensor([int(rid[1:]) for rid in ids])
        logits = torch.nn.functional.one_hot(rows % 3, 3).float() * 2 + 0.1 * rows[:, None]
        return [{"logits": logits, "fc2": rows[:, None].float()}, {"logits": logits * 0.5, "fc2": rows[:, None].float()}]


def test_teacher_labels_are_one_hot_at_any_temperature_and_keep_the_rest():
    targets = DistillTargets("teacher_labels", FakeCache(), ["r0", "r1", "r2", "r4"])
    outputs = targets.batch([0, 1, 3])
    for output in outputs:
        assert output["logits"].argmax(1).tolist() == [0, 1, 1]
        # At the largest temperature params allow, e^-100 is left off the argmax.
        torch.testing.assert_close(torch.softmax(output["logits"] / 100, 1), torch.eye(3)[[0, 1, 1]], atol=1e-40, rtol=0)
        assert output["logits"].max() == HARD_LOGIT
        assert output["fc2"][:, 0].tolist() == [0, 1, 4]  # everything but the logits is the teachers'
    plain = DistillTargets("teachers", FakeCache(), ["r0", "r1", "r2", "r4"]).batch([0, 1, 3])
    assert torch.equal(plain[0]["logits"], FakeCache().batch(["r0", "r1", "r4"])[0]["logits"])


def test_self_training_targets_are_the_baseline_logits_of_each_clips_recording():
    baseline = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([0.0, 1.0])}
    targets = DistillTargets("baseline", FakeCache(), ["b", "a", "a", "b"], baseline)
    (output,) = targets.batch([0, 1, 3])
    assert output["logits"].tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match="baseline's logits"):
        DistillTargets("baseline", FakeCache(), ["a"])
