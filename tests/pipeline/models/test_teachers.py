"""Sensor teachers and SPAMFM against hand-computed values."""
import math

import pytest
import torch
from torch import nn

from pipeline.models.teachers import (
    TAPS, MultiSensorTeacher, SemanticFusion, SensorBranch, batch_similarity, teacher_loss,
)
from tests.pipeline.workflow.helpers import random_images, small_teacher


def constant_gates(fusion: SemanticFusion, bias: float) -> None:
    """Make every excitation output the constant ``bias`` (weights zero)."""
    for modules in fusion.excitations.values():
        for sequential in modules:
            for layer in sequential:
                if isinstance(layer, nn.Linear):
                    nn.init.zeros_(layer.weight)
                    nn.init.constant_(layer.bias, bias)


def test_batch_similarity_by_hand():
    features = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    # R R^T = [[1, 1], [1, 2]]; rows normalised: [1, 1]/sqrt(2), [1, 2]/sqrt(5)
    expected = torch.tensor([[1 / math.sqrt(2), 1 / math.sqrt(2)], [1 / math.sqrt(5), 2 / math.sqrt(5)]])
    torch.testing.assert_close(batch_similarity(features), expected)


def test_spamfm_joint_representations_on_a_two_sample_batch():
    fusion = SemanticFusion(num_modalities=2, channels=2, reduction=1)
    first = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # G = I, so U_1 = S_1 = first
    second = torch.tensor([[1.0, 1.0], [1.0, 1.0]])  # G = all 1/sqrt(2): U_2 = sqrt(2) * [[1, 1], [1, 1]]
    joint = fusion.joint_representations([first, second])
    root2 = math.sqrt(2)
    u2 = torch.full((2, 2), root2)
    torch.testing.assert_close(joint["concatenation"], torch.cat([first, u2], dim=1))
    torch.testing.assert_close(joint["sum"], first + u2)
    torch.testing.assert_close(joint["hadamard"], first * u2)


@pytest.mark.parametrize("gate, bias, expected_scale", [
    ("sigmoid", 0.0, 1.5),  # three gates of sigmoid(0) = 0.5
    ("sigmoid", math.log(3), 2.25),  # sigmoid(log 3) = 0.75
    ("relu", -1.0, 0.0),
    ("relu", 0.4, 1.2),
])
def test_spamfm_gating_scales_channels(gate, bias, expected_scale):
    fusion = SemanticFusion(2, channels=3, reduction=1, gate=gate)
    constant_gates(fusion, bias)
    maps = [torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)]
    for before, after in zip(maps, fusion(maps)):
        torch.testing.assert_close(after, expected_scale * before)


def test_spamfm_gates_match_an_independent_computation():
    torch.manual_seed(0)
    fusion = SemanticFusion(2, channels=4, reduction=2)
    a, b = torch.randn(3, 4, 5, 5), torch.randn(3, 4, 5, 5)

    def u(x):
        flat = x.reshape(3, -1)
        gram = flat @ flat.T
        return (gram / gram.norm(dim=1, keepdim=True)) @ x.mean(dim=(2, 3))

    ua, ub = u(a), u(b)
    joints = {"concatenation": torch.cat([ua, ub], 1), "sum": ua + ub, "hadamard": ua * ub}
    for k, x in enumerate((a, b)):
        gate = sum(torch.sigmoid(fusion.excitations[kind][k](joints[kind])) for kind in joints)
        torch.testing.assert_close(fusion([a, b])[k], x * gate[:, :, None, None])


def test_softmax_relation_matches_an_independent_computation():
    torch.manual_seed(0)
    fusion = SemanticFusion(2, channels=4, reduction=2, relation="softmax", temperature=0.5)
    a, b = torch.randn(3, 4, 5, 5), torch.randn(3, 4, 5, 5)

    def u(x):
        flat = x.reshape(3, -1)
        flat = flat - flat.mean(0)
        cosine = torch.tensor([[float(flat[i] @ flat[j] / (flat[i].norm() * flat[j].norm())) for j in range(3)]
                               for i in range(3)])
        weights = torch.exp(cosine / 0.5)
        return (weights / weights.sum(1, keepdim=True)) @ x.mean(dim=(2, 3))

    ua, ub = u(a), u(b)
    joints = {"concatenation": torch.cat([ua, ub], 1), "sum": ua + ub, "hadamard": ua * ub}
    for k, x in enumerate((a, b)):
        gate = sum(torch.sigmoid(fusion.excitations[kind][k](joints[kind])) for kind in joints)
        torch.testing.assert_close(fusion([a, b])[k], x * gate[:, :, None, None])


def test_softmax_relation_weighs_a_sample_most_by_itself_and_sharpens_with_temperature():
    flat = torch.randn(6, 40)
    for temperature, least in ((1.0, 0.0), (0.05, 0.99)):
        similarity = batch_similarity(flat, "softmax", temperature)
        torch.testing.assert_close(similarity.sum(1), torch.ones(6))
        assert torch.equal(similarity.argmax(1), torch.arange(6))
        assert similarity.diagonal().min() > least


def test_self_relation_gates_each_sample_alone():
    torch.manual_seed(0)
    teacher = MultiSensorTeacher(["acc", "gyro"], 5, 8, "vgg11", 0.125, reduction=4, relation="self").eval()
    assert not teacher.batch_dependent
    images = {"acc": torch.randn(4, 3, 32, 32), "gyro": torch.randn(4, 3, 32, 32)}
    together = teacher(images)["logits"]
    alone = torch.cat([teacher({k: v[i:i + 1] for k, v in images.items()})["logits"] for i in range(4)])
    torch.testing.assert_close(together, alone)
    # ... and still fuses: the gyroscope shapes the accelerometer branch.
    changed = teacher({"acc": images["acc"], "gyro": torch.randn(4, 3, 32, 32)})["branches"]["acc"]["logits"]
    assert not torch.allclose(changed, teacher(images)["branches"]["acc"]["logits"])


def test_branch_layout_and_width():
    branch = SensorBranch(num_classes=5, embedding_dim=8, architecture="vgg16", width_mult=0.25)
    convolutions = [sum(isinstance(m, nn.Conv2d) for m in block.modules()) for block in branch.blocks.values()]
    assert convolutions == [2, 2, 3, 3, 3]
    assert branch.widths == {"conv1": 16, "conv2": 32, "conv3": 64, "conv4": 128, "conv5": 128}


def test_teacher_taps_and_fused_prediction():
    torch.manual_seed(0)
    teacher = MultiSensorTeacher(["acc", "gyro"], num_classes=5, embedding_dim=8, architecture="vgg11",
                                 width_mult=0.125, reduction=4)
    output = teacher({"acc": torch.randn(4, 3, 32, 32), "gyro": torch.randn(4, 3, 32, 32)})
    branch = output["branches"]["acc"]
    assert list(branch["features"]) == list(TAPS)
    assert [tuple(branch["features"][f"conv{i}"].shape[-2:]) for i in range(1, 6)] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert branch["fc2"].shape == (4, 8) and branch["logits"].shape == (4, 5)
    mean = (output["branches"]["acc"]["logits"] + output["branches"]["gyro"]["logits"]) / 2
    torch.testing.assert_close(output["logits"], mean)


def test_without_spamfm_branches_are_independent():
    torch.manual_seed(0)
    teacher = MultiSensorTeacher(["acc", "gyro"], 5, 8, "vgg11", 0.125, fusion_layers=[]).eval()
    acc = torch.randn(2, 3, 32, 32)
    first = teacher({"acc": acc, "gyro": torch.randn(2, 3, 32, 32)})["branches"]["acc"]["logits"]
    second = teacher({"acc": acc, "gyro": torch.randn(2, 3, 32, 32)})["branches"]["acc"]["logits"]
    torch.testing.assert_close(first, second)
    fused = MultiSensorTeacher(["acc", "gyro"], 5, 8, "vgg11", 0.125, reduction=4).eval()
    first = fused({"acc": acc, "gyro": torch.randn(2, 3, 32, 32)})["branches"]["acc"]["logits"]
    second = fused({"acc": acc, "gyro": torch.randn(2, 3, 32, 32)})["branches"]["acc"]["logits"]
    assert not torch.allclose(first, second)  # SPAMFM lets the gyroscope shape the accelerometer branch


def test_teacher_loss_by_hand():
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1])
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    fc2 = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # second sample misses its vector by 1 in one of 2 dims
    output = {"branches": {"acc": {"logits": logits, "fc2": fc2}}}
    total, terms = teacher_loss(output, labels, embeddings, sp_weight=2.0)
    cross_entropy = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert terms["ce"].item() == pytest.approx(cross_entropy)
    assert terms["semantic"].item() == pytest.approx(0.25)  # (0 + 1) / 4 elements
    assert total.item() == pytest.approx(cross_entropy + 0.5)


def test_bad_teacher_arguments():
    with pytest.raises(ValueError, match="unknown fusion layer 'conv9'"):
        MultiSensorTeacher(["acc"], 5, 8, fusion_layers=["conv9"])
    with pytest.raises(ValueError, match="architecture must be one of"):
        SensorBranch(5, 8, architecture="vgg19")
    with pytest.raises(ValueError, match="gate must be one of"):
        SemanticFusion(2, 4, gate="tanh")
    with pytest.raises(ValueError, match="relation must be one of"):
        SemanticFusion(2, 4, relation="cosine")
    with pytest.raises(KeyError, match="lacks sensor 'gyro'"):
        MultiSensorTeacher(["acc", "gyro"], 5, 8, "vgg11", 0.125)({"acc": torch.randn(2, 3, 32, 32)})


def test_single_sensor_teacher_has_nothing_to_fuse():
    teacher = MultiSensorTeacher(["acc"], num_classes=4, embedding_dim=6, architecture="vgg11", width_mult=0.05)
    assert teacher.fusion_layers == [] and len(teacher.fusions) == 0
    output = teacher({"acc": torch.randn(2, 3, 32, 32)})
    assert torch.equal(output["logits"], output["branches"]["acc"]["logits"])


# ------------------------------------------------------------------ SPAMFM in groups
def test_grouped_spamfm_equals_separate_batches():
    teacher = small_teacher()
    images = random_images(8, seed=1)
    with torch.no_grad():
        grouped = teacher(images, group_size=4)["logits"]
        separate = torch.cat([teacher({s: x[:4] for s, x in images.items()})["logits"],
                              teacher({s: x[4:] for s, x in images.items()})["logits"]])
        whole = teacher(images)["logits"]
    torch.testing.assert_close(grouped, separate, rtol=0, atol=1e-5)
    assert not torch.allclose(grouped, whole, atol=1e-3)  # the groups really are separate batches
