"""The Distiller on a tiny teacher/student pair: gradients, frozen teachers, caching, every
registered loss, a short overfit of the full SAKDN loss, and sakdn_loss without a layer-pair default."""
import pytest
import torch

from pipeline.distill import Distiller, sakdn_loss
from pipeline.losses import LOSSES, WeightedSum, build_loss
from pipeline.models.students import build_student
from pipeline.models.teachers import MultiSensorTeacher

CLASSES, DIMENSION, SEGMENTS = 4, 8, 2
PAIRS = [("conv4", "layer3")]  # 2x2 maps on both sides at 32 px


def tiny_pair(seed=0):
    torch.manual_seed(seed)
    teacher = MultiSensorTeacher(["acc", "gyro"], CLASSES, DIMENSION, "vgg11", width_mult=0.125, reduction=4)
    student = build_student("resnet18", "tsn", num_classes=CLASSES, embedding_dim=DIMENSION,
                            num_segments=SEGMENTS, dropout=0.0)
    return teacher, student


def batch(size=4, seed=1):
    generator = torch.Generator().manual_seed(seed)
    clips = torch.randn(size, SEGMENTS, 3, 32, 32, generator=generator)
    sensors = {s: torch.rand(size, 3, 32, 32, generator=generator) * 2 - 1 for s in ("acc", "gyro")}
    labels = torch.arange(size) % CLASSES
    return clips, sensors, labels


def embeddings():
    return torch.randn(CLASSES, DIMENSION, generator=torch.Generator().manual_seed(2))


def test_gsdm_alone_gives_gradient_to_student_backbone_and_none_to_teachers():
    teacher, student = tiny_pair()
    loss = WeightedSum({"ce": (0.0, build_loss("ce")), "gsdm": (1.0, build_loss("gsdm", pairs=PAIRS, importance="norm"))})
    distiller = Distiller(student, loss, embeddings(), teacher=teacher).train()
    clips, sensors, labels = batch()
    _, total, terms = distiller(clips, labels, teacher_inputs=sensors)
    assert set(terms) == {"gsdm"} and total.item() > 0
    total.backward()
    first_conv = student.backbone.conv1.weight.grad
    assert first_conv is not None and first_conv.abs().sum() > 0
    assert student.backbone.layer3[0].conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())


CHANNEL_PAIRS = [("conv4", "layer4")]  # GSDM's channel importance: the student's last stage (2x2 at 64 px)


def channel_batch(size=4, seed=1):
    generator = torch.Generator().manual_seed(seed)
    clips = torch.randn(size, SEGMENTS, 3, 64, 64, generator=generator)
    sensors = {s: torch.rand(size, 3, 32, 32, generator=generator) * 2 - 1 for s in ("acc", "gyro")}
    return clips, sensors, torch.arange(size) % CLASSES


def test_gsdm_channel_alone_gives_gradient_to_student_backbone_and_none_to_teachers():
    teacher, student = tiny_pair()
    loss = WeightedSum({"ce": (0.0, build_loss("ce")), "gsdm": (1.0, build_loss("gsdm", pairs=CHANNEL_PAIRS))})
    distiller = Distiller(student, loss, embeddings(), teacher=teacher).train()
    clips, sensors, labels = channel_batch()
    _, total, terms = distiller(clips, labels, teacher_inputs=sensors)
    assert set(terms) == {"gsdm"} and total.item() > 0
    total.backward()
    assert student.backbone.conv1.weight.grad.abs().sum() > 0
    assert student.backbone.layer4[0].conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())


def test_gsdm_channel_importance_changes_the_loss_where_the_input_importance_cannot():
    """The black-input importance is one positive scalar per sample, which the per-sample
    normalisation divides out; per-channel weights reshape the map, so they change the loss."""
    teacher, student = tiny_pair()
    clips, sensors, labels = channel_batch()
    for mode in ("channel", "norm"):
        term = build_loss("gsdm", pairs=CHANNEL_PAIRS, importance=mode)
        distiller = Distiller(student, WeightedSum({"gsdm": (1.0, term)}), embeddings(), teacher=teacher).eval()
        teachers = distiller.teacher_outputs(sensors, labels)
        with torch.no_grad():
            output = student(clips)
        if mode == "channel":
            weights = distiller.student_channel_weights(output, labels)
            uniform = {tap: torch.ones_like(w) for tap, w in weights.items()}
            targets = {"labels": labels, "class_embeddings": distiller.class_embeddings}
            real = term({**output, "gsdm_weights": weights}, teachers, targets)
            flat = term({**output, "gsdm_weights": uniform}, teachers, targets)
            assert abs(real.item() - flat.item()) > 1e-3
        else:  # any positive per-sample importance gives the same loss
            ablated = distiller.ablated_student_output(clips)
            targets = {"labels": labels, "class_embeddings": distiller.class_embeddings}
            black = distiller.ablated_teacher_outputs(len(clips), sensors)
            teachers = [{**t, "ablated": a} for t, a in zip(teachers, black)]
            one = term({**output, "ablated": ablated}, teachers, targets)
            scaled = {**ablated, "logits": ablated["logits"] * 3 + 1}  # another importance, still > 0
            other = term({**output, "ablated": scaled}, teachers, targets)
            assert abs(one.item() - other.item()) < 1e-5


def test_cached_channel_maps_stand_in_for_the_teacher():
    teacher, student = tiny_pair()
    distiller = Distiller(student, sakdn_loss(0.1, 1, 1, 4.0, CHANNEL_PAIRS), embeddings(), teacher=teacher).eval()
    clips, sensors, labels = channel_batch()
    cached = distiller.teacher_outputs(sensors, labels)
    assert cached[0]["gsdm_maps"]["conv4"].shape == (4, 2, 2)  # finished maps, no activations needed
    assert "gsdm_maps" not in distiller.teacher_outputs(sensors)[0]  # no labels, no maps
    _, live, live_terms = distiller(clips, labels, teacher_inputs=sensors)
    cacheless = Distiller(student, sakdn_loss(0.1, 1, 1, 4.0, CHANNEL_PAIRS), embeddings(), teacher=None).eval()
    _, from_cache, cached_terms = cacheless(clips, labels, teacher_outputs=cached)
    torch.testing.assert_close(from_cache, live)
    assert cached_terms["gsdm"].item() > 0


def test_teachers_stay_frozen_in_eval_mode():
    teacher, student = tiny_pair()
    distiller = Distiller(student, sakdn_loss(0.1, 1, 1, 4.0, PAIRS, importance="norm"), embeddings(), teacher=teacher)
    distiller.train()
    assert student.training and not teacher.training
    assert {id(p) for p in distiller.trainable_parameters()} == {id(p) for p in student.parameters()}


def test_cached_teacher_outputs_stand_in_for_the_teacher():
    teacher, student = tiny_pair()
    distiller = Distiller(student, sakdn_loss(0.1, 1, 1, 4.0, PAIRS, importance="norm"), embeddings(), teacher=teacher).eval()
    clips, sensors, labels = batch()
    _, live, _ = distiller(clips, labels, teacher_inputs=sensors)
    cache = distiller.teacher_outputs(sensors)
    ablated = distiller.ablated_teacher_outputs(len(clips), sensors)
    cached = [{**t, "ablated": a} for t, a in zip(cache, ablated)]
    cacheless = Distiller(student, sakdn_loss(0.1, 1, 1, 4.0, PAIRS, importance="norm"), embeddings(), teacher=None).eval()
    _, from_cache, _ = cacheless(clips, labels, teacher_outputs=cached)
    torch.testing.assert_close(from_cache, live)
    with pytest.raises(ValueError, match="ablated pass"):
        cacheless(clips, labels, teacher_outputs=cache)


def test_student_ablated_pass_is_one_black_clip_per_step():
    teacher, student = tiny_pair()
    seen = []
    student.backbone.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape[0]))
    black = torch.tensor([-2.0, -1.0, 0.5])
    distiller = Distiller(student, sakdn_loss(0.1, 1, 1, 4.0, PAIRS, importance="norm"), embeddings(), teacher=teacher,
                          student_black=black).train()
    clips, sensors, labels = batch(size=4)
    distiller(clips, labels, teacher_inputs=sensors)
    assert seen == [4 * SEGMENTS, 1 * SEGMENTS]  # the real batch, then ONE black clip
    assert student.training  # restored after the eval-mode ablated pass
    ablated = distiller.ablated_student_output(clips)
    assert ablated["logits"].shape == (4, CLASSES) and torch.equal(ablated["logits"][0], ablated["logits"][3])


def loss_for(name, student):
    kwargs = {"pairs": PAIRS} if name in ("gsdm", "at", "sp") else {}
    if name == "gsdm":
        kwargs["importance"] = "norm"
    if name == "fitnet":  # resnet18 layer3 has 256 channels; vgg conv4 512 x width_mult 0.125
        kwargs = {"pairs": PAIRS, "student_channels": [256], "teacher_channels": [64]}
    if name == "contrastive":
        kwargs = {"student_dim": DIMENSION, "teacher_dim": DIMENSION, "num_teachers": 2}
    return build_loss(name, **kwargs)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_registered_loss_runs_forward_and_backward(name):
    teacher, student = tiny_pair()
    loss = WeightedSum({name: (1.0, loss_for(name, student))})
    distiller = Distiller(student, loss, embeddings(), teacher=teacher).train()
    clips, sensors, labels = batch()
    # the pseudo-label term learns from a labeller's labels of unlabeled clips: every clip here
    extra = {"labeled": torch.zeros(len(labels), dtype=torch.bool), "pseudo_labels": labels,
             "pseudo_weights": torch.ones(len(labels))} if name == "pseudo_label" else {}
    _, total, terms = distiller(clips, labels, teacher_inputs=sensors, **extra)
    assert torch.isfinite(total) and set(terms) == {name}
    total.backward()
    gradients = [p.grad for p in distiller.trainable_parameters() if p.grad is not None]
    assert gradients and sum(g.abs().sum() for g in gradients) > 0


def train_teacher(teacher, sensors, labels, steps=60):
    """SAKDN trains the teachers first (CE + semantic loss); distillation starts from them.
    Returns the first and last teacher loss."""
    from pipeline.models.teachers import teacher_loss

    optimizer = torch.optim.Adam(teacher.parameters(), lr=1e-2)
    teacher.train()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        total, _ = teacher_loss(teacher(sensors), labels, embeddings(), sp_weight=1.0)
        total.backward()
        optimizer.step()
        losses.append(total.item())
    return losses[0], losses[-1]


def test_full_sakdn_loss_overfits_eight_samples():
    teacher, student = tiny_pair()
    clips, sensors, labels = batch(size=8, seed=3)
    first, last = train_teacher(teacher, sensors, labels)
    assert last < 0.25 * first
    distiller = Distiller(student, sakdn_loss(0.1, 1.0, 1.0, 4.0, PAIRS, importance="norm"), embeddings(), teacher=teacher).train()
    teacher_outputs = distiller.teacher_outputs(sensors)
    optimizer = torch.optim.Adam(distiller.trainable_parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        _, total, terms = distiller(clips, labels, teacher_outputs=teacher_outputs, teacher_inputs=sensors)
        total.backward()
        optimizer.step()
        losses.append(total.item())
    assert set(terms) == {"ce", "soft_target", "gsdm", "semantic"}
    assert losses[-1] < 0.5 * losses[0], losses


def test_gsdm_under_bfloat16_autocast_matches_float32():
    teacher, student = tiny_pair()
    loss = WeightedSum({"gsdm": (1.0, build_loss("gsdm", pairs=PAIRS, importance="norm"))})
    distiller = Distiller(student, loss, embeddings(), teacher=teacher).eval()
    clips, sensors, labels = batch()
    _, full, _ = distiller(clips, labels, teacher_inputs=sensors)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, mixed, _ = distiller(clips, labels, teacher_inputs=sensors)
    assert mixed.dtype == torch.float32
    assert abs(mixed.item() - full.item()) < 0.25 * full.item() + 1e-4  # bf16 features, fp32 importance


def test_sakdn_loss_has_no_layer_pair_default():
    import inspect

    from pipeline.distill import sakdn_loss

    assert inspect.signature(sakdn_loss).parameters["gsdm_pairs"].default is inspect.Parameter.empty
    loss = sakdn_loss(0.1, 1.0, 1.0, 4.0, [("conv3", "stage3")], "argmax")
    assert loss.weights == {"ce": 1.0, "soft_target": 0.1, "gsdm": 1.0, "semantic": 1.0}
    assert loss.terms["gsdm"].pairs == [("conv3", "stage3")] and loss.terms["gsdm"].readout == "argmax"


def test_unlabeled_clips_get_the_teacher_terms_and_no_cross_entropy():
    """``labeled`` masks the cross-entropy (by hand: CE over the labelled rows only) while the
    soft-target term keeps every row; a batch with no label still trains through its teachers."""
    teacher, student = tiny_pair()
    loss = WeightedSum({"ce": (1.0, build_loss("ce")), "soft_target": (1.0, build_loss("soft_target", temperature=4.0))})
    distiller = Distiller(student, loss, embeddings(), teacher=teacher).eval()
    clips, sensors, labels = batch()
    labeled = torch.tensor([True, False, True, False])
    output, _, terms = distiller(clips, labels, teacher_inputs=sensors, labeled=labeled)
    by_hand = -torch.log_softmax(output["logits"], 1)[labeled].gather(1, labels[labeled, None]).mean()
    torch.testing.assert_close(terms["ce"], by_hand)
    _, _, everything = distiller(clips, labels, teacher_inputs=sensors)
    torch.testing.assert_close(terms["soft_target"], everything["soft_target"])  # every row, labelled or not
    # Another label on the unlabeled rows changes nothing the loss computes.
    relabelled = torch.where(labeled, labels, (labels + 1) % CLASSES)
    _, total, _ = distiller(clips, relabelled, teacher_inputs=sensors, labeled=labeled)
    torch.testing.assert_close(total, terms["ce"] + terms["soft_target"])
    # No label in the batch: CE is 0 and the gradient comes from the teachers alone.
    student.zero_grad()
    _, total, terms = distiller(clips, labels, teacher_inputs=sensors, labeled=torch.zeros(4, dtype=torch.bool))
    assert terms["ce"].item() == 0 and terms["soft_target"].item() > 0
    total.backward()
    assert student.fc1.weight.grad.abs().sum() > 0


def test_every_term_has_a_gradient_at_the_shared_tap_and_gsdm_none_at_fc1():
    """The training curves' grad_<term>: at the shallowest paired tap every term shows up; at
    fc1, which GSDM's maps never pass through, GSDM would read ~0 (only through its importance)."""
    from pipeline.workflow.student_training import shared_tap, tap_activation, term_gradient_norms

    teacher, student = tiny_pair()
    loss = WeightedSum({"ce": (1.0, build_loss("ce")), "soft_target": (1.0, build_loss("soft_target")),
                        "gsdm": (1.0, build_loss("gsdm", pairs=PAIRS, importance="norm"))})
    distiller = Distiller(student, loss, embeddings(), teacher=teacher).train()
    clips, sensors, labels = batch()
    output, _, terms = distiller(clips, labels, teacher_inputs=sensors)
    tap = shared_tap(student.tap_names, [student_tap for _, student_tap in PAIRS])
    assert tap == "layer3"
    at_tap = term_gradient_norms(terms, loss.weights, tap_activation(output, tap))
    assert all(at_tap[f"grad_{name}"] > 0 for name in ("ce", "soft_target", "gsdm"))
    at_fc1 = term_gradient_norms(terms, loss.weights, student.fc1.weight)
    assert at_fc1["grad_gsdm"] < 1e-6 < at_tap["grad_gsdm"] and at_fc1["grad_ce"] > 0


def test_shared_tap_is_the_shallowest_paired_tap():
    from pipeline.workflow.student_training import shared_tap

    taps = ("stem", "layer1", "layer2", "layer3", "layer4")
    assert shared_tap(taps, ["layer4", "layer2"]) == "layer2"
    assert shared_tap(taps, []) == "layer4"
