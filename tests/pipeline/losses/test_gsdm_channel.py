"""GSDM's channel importance (pipeline/losses/gsdm_channel.py, docs/method.md §5 "channel")."""
from __future__ import annotations

import math

import pytest
import torch

from pipeline.losses.gsdm_channel import (ablated_scores_by_rerun, channel_map, channel_weights, semantic_scores,
                                          student_channel_maps, student_channel_scores, student_scores_at,
                                          teacher_channel_maps, teacher_group_maps)
from pipeline.models.students import build_student
from pipeline.models.teachers import MultiSensorTeacher

NUM_CLASSES, DIM = 5, 8
SENSORS = ["acc", "gyro"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread is faster, and immune to contention on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def embeddings(seed: int = 0) -> torch.Tensor:
    return torch.randn(NUM_CLASSES, DIM, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ a hand-checked example
# Two samples, three channels of 1x2 maps. The "rest of the network" reads logit k off the sum
# of channel k (k = 0, 1); channel 2 feeds nothing. E = I (K = D = 2), argmax read-out.
HAND_ACTIVATION = torch.tensor([
    [[[1.0, 2.0]], [[1.0, 0.0]], [[2.0, 3.0]]],  # sample 0 (label 0): logits (3, 1)
    [[[1.0, 0.0]], [[0.0, 2.0]], [[1.0, 0.0]]],  # sample 1 (label 1): logits (1, 2)
])
HAND_LABELS = torch.tensor([0, 1])
# f_0 = (0, 0), f_1 = (a, a) with a^2 / 2 = ln 2: W = [[1, 1/2], [1/2, 1]], row sums 3/2,
# Q = D^-1/2 W D^-1/2 = W / (3/2) = [[2/3, 1/3], [1/3, 2/3]].
HAND_SEMANTIC = torch.tensor([[0.0, 0.0], [1.0, 1.0]]) * math.sqrt(2 * math.log(2))


def hand_readout(activation: torch.Tensor) -> torch.Tensor:
    sums = activation.sum(dim=(2, 3))
    return sums[:, :2] + 0.0 * sums[:, 2:3]


def test_hand_built_scores_weights_and_maps():
    eye = torch.eye(2)
    scores, graph = semantic_scores(hand_readout(HAND_ACTIVATION), HAND_SEMANTIC, eye, HAND_LABELS, "argmax")
    torch.testing.assert_close(graph, torch.tensor([[2 / 3, 1 / 3], [1 / 3, 2 / 3]]))
    # F = (e0, e1), QF = ((2/3, 1/3), (1/3, 2/3)): s = (2/3, 2/3)
    torch.testing.assert_close(scores, torch.tensor([2 / 3, 2 / 3]))
    ablated = ablated_scores_by_rerun(hand_readout, HAND_ACTIVATION, graph, eye, HAND_LABELS, "argmax", chunk=2)
    # channel 0 zeroed: logits (0, 1), (0, 2) -> F = (e1, e1), QF = (e1, e1): s = (0, 1)
    # channel 1 zeroed: logits (3, 0), (1, 0) -> F = (e0, e0): s = (1, 0)
    # channel 2 zeroed: nothing changes: s = (2/3, 2/3)
    torch.testing.assert_close(ablated, torch.tensor([[0.0, 1.0, 2 / 3], [1.0, 0.0, 2 / 3]]))
    weights = channel_weights(scores, ablated)
    # w = (s - s^(k)) / |s|: ((2/3 - 0) / (2/3), (2/3 - 1) / (2/3), 0), and mirrored
    torch.testing.assert_close(weights, torch.tensor([[1.0, -0.5, 0.0], [-0.5, 1.0, 0.0]]))
    maps = channel_map(HAND_ACTIVATION, weights)
    # M_0 = ReLU(1 (1, 2) - 1/2 (1, 0)) = (1/2, 2); M_1 = ReLU(-1/2 (1, 0) + (0, 2)) = (0, 2)
    torch.testing.assert_close(maps, torch.tensor([[[0.5, 2.0]], [[0.0, 2.0]]]))
    # the zero-weight channel: zeroing its activation leaves the maps as they are
    without = HAND_ACTIVATION.clone()
    without[:, 2] = 0
    torch.testing.assert_close(channel_map(without, weights), maps, rtol=0, atol=0)


def test_soft_readout_score_by_hand_and_negative_score_sign():
    # f far apart: W = I, Q = I. logits (0, ln 3): softmax (1/4, 3/4) = F with E = I.
    semantic = torch.tensor([[0.0, 0.0], [100.0, 100.0]])
    logits = torch.tensor([[0.0, math.log(3)], [math.log(3), 0.0]])
    scores, graph = semantic_scores(logits, semantic, torch.eye(2), torch.tensor([1, 1]), "soft")
    torch.testing.assert_close(graph, torch.eye(2))
    torch.testing.assert_close(scores, torch.tensor([0.75, 0.25]))
    # a negative score: losing it (towards 0) is no loss; |s| keeps the sign of s - s^(k)
    weights = channel_weights(torch.tensor([-2.0, 1.0]), torch.tensor([[-1.0, -3.0], [0.5, 1.5]]))
    torch.testing.assert_close(weights, torch.tensor([[-0.5, 0.5], [0.5, -0.5]]))
    # |s| ~ 0 is guarded by eps
    assert torch.isfinite(channel_weights(torch.tensor([0.0]), torch.tensor([[1.0]]))).all()


def test_a_zero_weight_channel_does_not_touch_the_map():
    generator = torch.Generator().manual_seed(1)
    for shape in ((3, 4, 5, 5), (3, 2, 4, 5, 5)):
        features = torch.randn(*shape, generator=generator)
        weights = torch.randn(3, 4, generator=generator)
        weights[:, 2] = 0
        ablated = features.clone()
        ablated.select(features.dim() - 3, 2).zero_()
        torch.testing.assert_close(channel_map(ablated, weights), channel_map(features, weights), rtol=0, atol=0)


# ------------------------------------------------------------------ the student: closed form
def small_student(head: str = "tsn", dropout: float = 0.0):
    torch.manual_seed(0)
    return build_student("resnet18", head, num_classes=NUM_CLASSES, embedding_dim=DIM, num_segments=2,
                         dropout=dropout).eval()


def clips(batch: int = 3, size: int = 64) -> torch.Tensor:
    return torch.randn(batch, 2, 3, size, size, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("head", ["tsn", "tsm"])
def test_student_closed_form_equals_zeroing_each_channel(head):
    student = small_student(head)
    labels = torch.tensor([0, 3, 1])
    class_embeddings = embeddings()
    with torch.no_grad():
        output = student(clips())
        last = output["features"]["layer4"]  # (3, 2, 512, 2, 2)
        assert last.shape[-2:] == (2, 2)
        torch.testing.assert_close(student.logits_from_last_tap(last), output["logits"])
        closed = student.channel_ablated_logits(last)  # (b, C, K)
        for k in range(last.shape[2]):
            zeroed = last.clone()
            zeroed[:, :, k] = 0
            torch.testing.assert_close(closed[:, k], student.logits_from_last_tap(zeroed), rtol=0, atol=1e-5)
        # the weights: closed form against the generic rerun on ablated copies of the 5-D tap
        scores, ablated = student_channel_scores(student, last, class_embeddings, labels, "soft")
        reference, graph = semantic_scores(output["logits"], output["semantic"], class_embeddings, labels)
        torch.testing.assert_close(scores, reference)
        rerun = ablated_scores_by_rerun(student.logits_from_last_tap, last, graph, class_embeddings, labels,
                                        "soft", chunk=100)
        torch.testing.assert_close(ablated, rerun, rtol=0, atol=1e-5)
        weights, maps = student_channel_maps(output, student, "layer4", class_embeddings, labels, "soft")
        torch.testing.assert_close(weights, channel_weights(scores, rerun), rtol=1e-4, atol=1e-5)
        assert weights.abs().max() > 0 and maps.shape == (3, 2, 2)


def brute_force_student_scores(student, clips_, tap, class_embeddings, labels):
    """Zero channel k of ``tap`` in every frame with a hook on the full forward, one channel at
    a time (no logits_from_tap, no stacking), in eval mode."""
    module = getattr(student.backbone, tap)
    with torch.no_grad():
        output = student(clips_)
        scores, graph = semantic_scores(output["logits"], output["semantic"], class_embeddings, labels)
        ablated = []
        for k in range(output["features"][tap].shape[2]):
            def zero(_module, _inputs, out, k=k):
                out = out.clone()
                out[:, k] = 0
                return out
            handle = module.register_forward_hook(zero)
            try:
                logits = student(clips_)["logits"]
            finally:
                handle.remove()
            ablated.append(semantic_scores(logits, None, class_embeddings, labels, graph=graph)[0])
        return scores, torch.stack(ablated, dim=1), output


@pytest.mark.parametrize("head,tap", [("tsn", "layer3"), ("tsm", "layer3"), ("trn", "layer4")])
def test_student_rerun_equals_zeroing_each_channel(head, tap):
    """Where there is no closed form (an inner tap; the nonlinear trn head) the layers after the
    tap rerun on ablated copies: equal to zeroing every channel, one at a time, in the full net."""
    student = small_student(head)
    labels, class_embeddings = torch.tensor([0, 3, 1]), embeddings()
    small_clips = clips(size=32)  # layer3 2x2, layer4 1x1: the brute force is 256-512 full forwards
    expected_scores, expected, output = brute_force_student_scores(student, small_clips, tap, class_embeddings, labels)
    student.train()  # the rerun runs in eval mode and gives the training mode back
    scores, ablated = student_scores_at(student, tap, output["features"][tap], class_embeddings, labels, chunk=48)
    assert student.training
    torch.testing.assert_close(scores, expected_scores, rtol=0, atol=1e-5)
    torch.testing.assert_close(ablated, expected, rtol=0, atol=1e-5)
    weights, maps = student_channel_maps(output, student, tap, class_embeddings, labels)
    torch.testing.assert_close(weights * scores.abs().unsqueeze(1),
                               channel_weights(expected_scores, expected) * scores.abs().unsqueeze(1),
                               rtol=0, atol=1e-5)
    assert weights.abs().max() > 0 and maps.shape == (3, *output["features"][tap].shape[-2:])


def test_last_tap_rerun_from_the_pooled_features_equals_the_rerun_from_the_maps():
    """At the last tap the trn student's ablations rerun from the pooled features: the same
    numbers, bit for bit, as rerunning from ablated copies of the (b, T, C, H, W) maps."""
    student = small_student("trn").to(memory_format=torch.channels_last)  # as trained
    labels, class_embeddings = torch.tensor([0, 3, 1]), embeddings()
    with torch.no_grad():
        output = student.eval()(clips())
        last = output["features"]["layer4"]
        assert last.shape[-2:] == (2, 2)
        from_maps = student.logits_from_tap("layer4", last)
        from_pool = student.logits_from_pooled(last.mean(dim=(-2, -1)))
        assert torch.equal(from_pool["logits"], from_maps["logits"])
        torch.testing.assert_close(from_pool["logits"], output["logits"])
        _, graph = semantic_scores(from_maps["logits"], from_maps["semantic"], class_embeddings, labels)
        expected = ablated_scores_by_rerun(lambda copies: student.logits_from_tap("layer4", copies)["logits"], last,
                                           graph, class_embeddings, labels, chunk=16, channel_dim=2)
    _, ablated = student_scores_at(student, "layer4", last, class_embeddings, labels, chunk=16)
    assert torch.equal(ablated, expected)


def test_student_tap_and_head_checks():
    with pytest.raises(ValueError, match="unknown tap 'conv4'"):
        small_student().logits_from_tap("conv4", torch.zeros(1, 2, 512, 2, 2))
    with pytest.raises(ValueError, match="trn"):
        small_student("trn").channel_ablated_logits(torch.zeros(1, 2, 512, 2, 2))
    with pytest.raises(ValueError, match=r"pooled last-tap features \[N, T, 512\]"):
        small_student("trn").logits_from_pooled(torch.zeros(1, 2, 512, 2, 2))


def test_last_tap_paths_skip_dropout_in_training_mode():
    student = small_student(dropout=0.5)
    with torch.no_grad():
        evaluated = student(clips())
        student.train()  # dropout active in forward, not in the last-tap paths
        last = evaluated["features"]["layer4"]
        torch.testing.assert_close(student.logits_from_last_tap(last), evaluated["logits"])
        torch.testing.assert_close(student.frame_semantic_from_last_tap(last), evaluated["frame_semantic"])


def test_student_map_carries_gradient_to_the_tap_activation():
    student = small_student().train()
    output = student(clips())
    last = output["features"]["layer4"]
    last.retain_grad()
    labels = torch.tensor([0, 3, 1])
    weights, maps = student_channel_maps(output, student, "layer4", embeddings(), labels)
    assert not weights.requires_grad and maps.requires_grad
    maps.sum().backward()
    assert last.grad is not None and last.grad.abs().sum() > 0
    assert student.backbone.conv1.weight.grad.abs().sum() > 0
    # detach_weights=False: the gradient also runs through w into fc1 and the head
    student.zero_grad()
    weights, maps = student_channel_maps(student(clips()), student, "layer4", embeddings(), labels,
                                         detach_weights=False)
    assert weights.requires_grad
    maps.sum().backward()
    assert student.fc1.weight.grad.abs().sum() > 0


# ------------------------------------------------------------------ the teacher: rerun
def small_teacher(spamfm: bool = True) -> MultiSensorTeacher:
    torch.manual_seed(0)
    fusion = dict() if spamfm else dict(fusion_layers=[])
    return MultiSensorTeacher(SENSORS, NUM_CLASSES, DIM, "vgg11", 0.125, reduction=4, **fusion).eval()


def gaf_images(batch: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return {sensor: torch.rand(batch, 3, 32, 32, generator=generator) * 2 - 1 for sensor in SENSORS}


@pytest.mark.parametrize("spamfm", [True, False])
def test_forward_from_reproduces_forward_at_every_conv_tap(spamfm):
    teacher = small_teacher(spamfm)
    images = gaf_images(4)
    with torch.no_grad():
        for group_size in (None, 2):
            output = teacher(images, group_size=group_size)
            for tap in ("conv1", "conv2", "conv3", "conv4", "conv5"):
                taps = {s: output["branches"][s]["features"][tap] for s in SENSORS}
                resumed = teacher.forward_from(tap, taps, group_size=group_size)
                assert torch.equal(resumed["logits"], output["logits"])
                for s in SENSORS:
                    for key in ("logits", "fc2"):
                        assert torch.equal(resumed["branches"][s][key], output["branches"][s][key])
                    assert torch.equal(resumed["branches"][s]["features"]["fc1"],
                                       output["branches"][s]["features"]["fc1"])
    with pytest.raises(ValueError, match="conv tap"):
        teacher.forward_from("fc1", taps)


def test_forward_from_uses_a_given_next_block_instead_of_running_it():
    teacher = small_teacher(True)
    with torch.no_grad():
        output = teacher(gaf_images(4), group_size=2)
        taps = {s: output["branches"][s]["features"]["conv3"] for s in SENSORS}
        given = {SENSORS[0]: teacher.branches[SENSORS[0]].blocks["conv4"](taps[SENSORS[0]])}
        resumed = teacher.forward_from("conv3", taps, group_size=2, next_block=given)
        assert torch.equal(resumed["logits"], output["logits"])
        # a different given block changes the output: it is what the branch uses
        zeros = {SENSORS[0]: torch.zeros_like(given[SENSORS[0]])}
        changed = teacher.forward_from("conv3", taps, group_size=2, next_block=zeros)
        assert not torch.allclose(changed["logits"], output["logits"])
        last = {s: output["branches"][s]["features"]["conv5"] for s in SENSORS}
        with pytest.raises(ValueError, match="no conv block follows 'conv5'"):
            teacher.forward_from("conv5", last, next_block=zeros)


def brute_force_teacher_weights(teacher, images, tap, sensor, class_embeddings, labels, group_size):
    """Zero one channel at a time with a hook on the full forward (no forward_from, no
    stacking): on the fusion module's output when the tap is fused, else on the block's."""
    index = teacher.sensors.index(sensor)
    with torch.no_grad():
        output = teacher(images, group_size=group_size)
        branch = output["branches"][sensor]
        scores, graph = semantic_scores(branch["logits"], branch["fc2"], class_embeddings, labels, "soft")
        channels = branch["features"][tap].shape[1]
        ablated = []
        for k in range(channels):
            def zero(module, inputs, out, k=k):
                if isinstance(out, list):
                    out = list(out)
                    out[index] = out[index].clone()
                    out[index][:, k] = 0
                    return out
                out = out.clone()
                out[:, k] = 0
                return out
            module = teacher.fusions[tap] if tap in teacher.fusions else teacher.branches[sensor].blocks[tap]
            handle = module.register_forward_hook(zero)
            try:
                logits = teacher(images, group_size=group_size)["branches"][sensor]["logits"]
            finally:
                handle.remove()
            ablated.append(semantic_scores(logits, None, class_embeddings, labels, "soft", graph=graph)[0])
        return scores, channel_weights(scores, torch.stack(ablated, dim=1)), branch["features"][tap]


@pytest.mark.parametrize("spamfm,group_size,batch", [(True, None, 3), (True, 2, 4), (False, None, 3)])
def test_teacher_rerun_equals_one_channel_at_a_time(spamfm, group_size, batch):
    teacher = small_teacher(spamfm)
    images = gaf_images(batch)
    labels = torch.tensor([0, 4, 2, 1])[:batch]
    class_embeddings = embeddings()
    scores, expected, features = brute_force_teacher_weights(teacher, images, "conv4", "gyro", class_embeddings,
                                                     labels, group_size)
    assert features.shape[1:] == (64, 2, 2)
    for chunk in (1, 3):
        weights, maps = teacher_channel_maps(teacher, images, "conv4", "gyro", class_embeddings, labels,
                                             "soft", group_size=group_size, chunk=chunk)
        # float32 noise of the stacked reruns (~1e-7 of the logits) is divided by |s_i|,
        # which is ~0.01 for one sample here: compare the score losses s_i w_ik, then w loosely
        torch.testing.assert_close(weights * scores.abs().unsqueeze(1), expected * scores.abs().unsqueeze(1),
                                   rtol=0, atol=1e-6)
        torch.testing.assert_close(weights, expected, rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(maps, channel_map(features, expected), rtol=1e-3, atol=1e-4)
    assert weights.abs().max() > 0
    by_index, _ = teacher_channel_maps(teacher, images, "conv4", 1, class_embeddings, labels, "soft",
                                       group_size=group_size, chunk=64)
    torch.testing.assert_close(by_index, weights, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("spamfm", [True, False])
def test_group_maps_equal_each_group_scored_alone(spamfm):
    """What the teacher-output cache stores: each sample's finished map, scored in a group of
    its own (its batch-mates first, the sample last) with that group's graph; equal to
    ``teacher_channel_maps`` on the group alone, last row."""
    teacher = small_teacher(spamfm)
    group, class_embeddings = 3, embeddings()
    images = gaf_images(6)  # two groups of three
    labels = torch.tensor([4, 2])  # the samples' (each group's last row)
    weights, maps = teacher_group_maps(teacher, images, "conv4", "acc", class_embeddings, labels, group, chunk=16)
    assert weights.shape == (2, 64) and maps.shape == (2, 2, 2) and not maps.requires_grad
    for g in range(2):
        members = {s: x[g * group:(g + 1) * group] for s, x in images.items()}
        member_labels = torch.tensor([0, 0, int(labels[g])])  # batch-mates' labels do not matter
        alone_weights, alone_maps = teacher_channel_maps(teacher, members, "conv4", "acc", class_embeddings,
                                                         member_labels, chunk=64)
        torch.testing.assert_close(maps[g], alone_maps[-1], rtol=1e-3, atol=1e-5)
        torch.testing.assert_close(weights[g], alone_weights[-1], rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="groups of 4"):
        teacher_group_maps(teacher, images, "conv4", "acc", class_embeddings, labels, 4)


def test_teacher_maps_have_no_gradient_and_need_eval_mode():
    teacher = small_teacher()
    weights, maps = teacher_channel_maps(teacher, gaf_images(3), "conv5", "acc", embeddings(),
                                         torch.tensor([0, 1, 2]), chunk=32)
    assert not weights.requires_grad and not maps.requires_grad and maps.shape == (3, 1, 1)
    teacher.train()
    with pytest.raises(ValueError, match="eval"):
        teacher_channel_maps(teacher, gaf_images(3), "conv4", "acc", embeddings(), torch.tensor([0, 1, 2]))
