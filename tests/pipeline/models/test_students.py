"""The video student (docs/method.md §4): output contract, TSM shift, TRN relations, TSN consensus,
pretrained loading, channels_last + bfloat16 autocast, argument checks. Small CPU inputs."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import pipeline.models.students as students
from pipeline.models.students import (
    BACKBONES,
    HEADS,
    TemporalShift,
    TemporalShiftSequential,
    VideoStudent,
    build_student,
    select_relations,
    temporal_shift,
)

N, T, SIZE, D, C = 2, 3, 32, 6, 5
# What the student must offer, written out here rather than derived from the registries under test.
EXPECTED_BACKBONES = ("resnet18", "resnet50", "mobilenet_v2")
EXPECTED_HEADS = ("tsn", "trn", "tsm")
VALID = [("resnet18", "tsn"), ("resnet18", "trn"), ("resnet18", "tsm"),
         ("resnet50", "tsn"), ("resnet50", "trn"), ("resnet50", "tsm"),
         ("mobilenet_v2", "tsn"), ("mobilenet_v2", "trn"), ("mobilenet_v2", "tsm")]
TAPS = {"resnet18": ("stem", "layer1", "layer2", "layer3", "layer4"),
        "resnet50": ("stem", "layer1", "layer2", "layer3", "layer4"),
        "mobilenet_v2": ("stage1", "stage2", "stage3", "stage4", "stage5")}
# Channels and strides of the five taps (torchvision's architectures; docs/method.md §4).
TAP_CHANNELS = {"resnet18": (64, 64, 128, 256, 512),
                "resnet50": (64, 256, 512, 1024, 2048),
                "mobilenet_v2": (16, 24, 32, 96, 1280)}
TAP_STRIDES = {"resnet18": (4, 4, 8, 16, 32),
               "resnet50": (4, 4, 8, 16, 32),
               "mobilenet_v2": (2, 4, 8, 16, 32)}


def clips(n: int = N, t: int = T, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


def student(backbone: str = "resnet18", head: str = "tsn", seed: int = 0, **kwargs) -> VideoStudent:
    torch.manual_seed(seed)
    kwargs = {"num_classes": C, "embedding_dim": D, "num_segments": T, **kwargs}
    return build_student(backbone, head, **kwargs)


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def calibrated(model: VideoStudent, x: torch.Tensor) -> VideoStudent:
    """``model`` in eval mode with BatchNorm statistics taken from ``x``: a fresh MobileNetV2 with
    the default running statistics shrinks its activations to ~1e-9 by stage5 in eval mode, too
    small for a comparison of outputs to mean anything."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative: one pass sets the statistics of x
    with torch.no_grad():
        model.train()(x)
    return model.eval()


# --------------------------------------------------------------------------- 1. contract
@pytest.mark.parametrize("backbone,head", VALID)
def test_output_contract(backbone, head):
    model = student(backbone, head)
    assert model.num_segments == T
    assert model.tap_names == TAPS[backbone]

    model.eval()
    x = clips()
    with torch.no_grad():
        out = model(x)
        again = model(x)
    assert set(out) == {"logits", "semantic", "frame_semantic", "features"}
    assert out["logits"].shape == (N, C)
    assert out["semantic"].shape == (N, D)
    assert out["frame_semantic"].shape == (N, T, D)
    torch.testing.assert_close(out["semantic"], out["frame_semantic"].mean(1), rtol=0, atol=0)

    features = out["features"]
    assert tuple(features) == TAPS[backbone]  # shallow to deep
    assert all(fmap.dim() == 5 and fmap.shape[:2] == (N, T) for fmap in features.values())
    assert tuple(fmap.shape[2] for fmap in features.values()) == TAP_CHANNELS[backbone]
    assert [tuple(fmap.shape[-2:]) for fmap in features.values()] == [
        (SIZE // stride, SIZE // stride) for stride in TAP_STRIDES[backbone]]

    # Eval mode is deterministic, bit for bit (the TRN relations are fixed buffers).
    for key in ("logits", "semantic", "frame_semantic"):
        assert torch.equal(out[key], again[key]), key
    for name in model.tap_names:
        assert torch.equal(out["features"][name], again["features"][name]), name

    # Gradients flow from the logits back to the very first conv.
    model.train()
    model(x)["logits"].sum().backward()
    grad = first_conv(model).weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_mobilenet_stages_end_at_strides_2_to_32():
    model = student("mobilenet_v2", "tsn").eval()
    with torch.no_grad():
        features = model(clips(size=64))["features"]
    assert [fmap.shape[-1] for fmap in features.values()] == [32, 16, 8, 4, 2]
    assert [fmap.shape[2] for fmap in features.values()] == [16, 24, 32, 96, 1280]


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v2"])
def test_tsn_accepts_another_number_of_frames_but_trn_and_tsm_do_not(backbone):
    with torch.no_grad():
        assert student(backbone, "tsn").eval()(clips(t=5))["logits"].shape == (N, C)
        for head in ("trn", "tsm"):
            with pytest.raises(ValueError, match="num_segments=3"):
                student(backbone, head)(clips(t=5))


def test_bad_clip_shape_raises():
    with pytest.raises(ValueError, match=r"\[N, T, 3, H, W\]"):
        student()(torch.zeros(N * T, 3, SIZE, SIZE))


# --------------------------------------------------------------------------- 2. TSM
def test_temporal_shift_by_hand():
    batch, segments, channels, height, width = 2, 4, 8, 2, 3
    # value = 100 * t + c + 1 (+ 1000 for the second clip): every entry non-zero and traceable
    t_index = torch.arange(segments).reshape(1, segments, 1, 1, 1)
    c_index = torch.arange(channels).reshape(1, 1, channels, 1, 1)
    n_index = torch.arange(batch).reshape(batch, 1, 1, 1, 1)
    x = (1000 * n_index + 100 * t_index + c_index + 1).float().expand(
        batch, segments, channels, height, width).contiguous()

    out = temporal_shift(x, 0.25)  # fold = 2 channels per shifted block
    assert out.shape == x.shape
    for t in range(segments):
        # block 0 (channels 0-1): the next frame's values, zero at the last frame
        expected_next = x[:, t + 1, 0:2] if t < segments - 1 else torch.zeros_like(x[:, t, 0:2])
        assert torch.equal(out[:, t, 0:2], expected_next)
        # block 1 (channels 2-3): the previous frame's values, zero at the first frame
        expected_previous = x[:, t - 1, 2:4] if t > 0 else torch.zeros_like(x[:, t, 2:4])
        assert torch.equal(out[:, t, 2:4], expected_previous)
        # the rest (channels 4-7) unchanged
        assert torch.equal(out[:, t, 4:], x[:, t, 4:])
    # concrete spot checks: clip 1, frame 0, channel 0 holds frame 1's value; channel 2 is zero
    assert out[1, 0, 0, 0, 0].item() == 1000 + 100 * 1 + 0 + 1
    assert out[1, 0, 2, 0, 0].item() == 0
    assert out[0, 3, 3, 0, 0].item() == 100 * 2 + 3 + 1


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 2), segments=st.integers(1, 5), channels=st.integers(1, 17),
       fraction=st.sampled_from([0.0, 0.1, 0.125, 0.25, 1 / 3, 0.5]))
def test_temporal_shift_matches_a_naive_loop(batch, segments, channels, fraction):
    x = torch.randn(batch, segments, channels, 2, 2)
    fold = int(channels * fraction)
    expected = torch.zeros_like(x)
    for t in range(segments):
        for c in range(channels):
            if c < fold:
                source = t + 1
            elif c < 2 * fold:
                source = t - 1
            else:
                source = t
            if 0 <= source < segments:
                expected[:, t, c] = x[:, source, c]
    assert torch.equal(temporal_shift(x, fraction), expected)


@pytest.mark.parametrize("wrap", [lambda: TemporalShift(nn.Identity(), 4, 0.125),
                                  lambda: TemporalShiftSequential(nn.Sequential(nn.Identity()), 4, 0.125)],
                         ids=["conv", "sequential"])
def test_temporal_shift_wrapper_unfolds_frames_and_keeps_channels_last(wrap):
    segments, channels = 4, 8
    x = torch.randn(2 * segments, channels, 3, 3)
    wrapper = wrap()
    expected = temporal_shift(x.reshape(2, segments, channels, 3, 3), 0.125).reshape_as(x)
    assert torch.equal(wrapper(x), expected)
    out = wrapper(x.contiguous(memory_format=torch.channels_last))
    assert torch.equal(out, expected)
    assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("backbone,blocks", [("resnet18", 8), ("resnet50", 16)])
def test_tsm_wraps_conv1_of_every_residual_block(backbone, blocks):
    model = student(backbone, "tsm", tsm_shift_fraction=0.25)
    shifts = [m for m in model.modules() if isinstance(m, TemporalShift)]
    assert len(shifts) == blocks
    assert all(s.num_segments == T and s.shift_fraction == 0.25 for s in shifts)
    # Every torchvision BasicBlock/Bottleneck, listed here from the trunk's layers, is wrapped.
    trunk = model.backbone
    blocks_by_hand = [block for layer in (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4)
                      for block in layer]
    assert len(blocks_by_hand) == blocks
    assert all(isinstance(block.conv1, TemporalShift) for block in blocks_by_hand)
    assert trunk.residual_blocks() == blocks_by_hand
    # and the other heads shift nothing
    assert not any(isinstance(m, TemporalShift) for m in student(backbone, "tsn").modules())


def test_tsm_without_shift_equals_tsn_and_with_shift_differs():
    x = clips(t=T)
    tsn = student("resnet18", "tsn", seed=3).eval()
    no_shift = student("resnet18", "tsm", seed=3, tsm_shift_fraction=0.0).eval()
    shifted = student("resnet18", "tsm", seed=3).eval()
    with torch.no_grad():
        reference = tsn(x)["logits"]
        torch.testing.assert_close(no_shift(x)["logits"], reference)
        assert not torch.allclose(shifted(x)["logits"], reference)


# torchvision's MobileNetV2 blocks with a shortcut (stride 1, channels in = out), by hand from its
# (t, c, n, s) table: the repeats of the 24, 32, 64, 96 and 160 channel stages, and their channels.
MOBILENET_SHORTCUT_BLOCKS = {3: 24, 5: 32, 6: 32, 8: 64, 9: 64, 10: 64, 12: 96, 13: 96, 15: 160, 16: 160}


def test_tsm_on_mobilenet_shifts_before_the_expansion_of_every_block_with_a_shortcut():
    model = student("mobilenet_v2", "tsm")
    features = model.backbone.features
    shifted = [index for index, block in enumerate(features)
               if any(isinstance(m, TemporalShiftSequential) for m in block.modules())]
    assert shifted == list(MOBILENET_SHORTCUT_BLOCKS)
    assert all(features[i].use_res_connect and isinstance(features[i].conv[0], TemporalShiftSequential)
               for i in shifted)
    assert model.backbone.residual_blocks() == [features[i] for i in shifted]
    shifts = [m for m in model.modules() if isinstance(m, TemporalShiftSequential)]
    assert len(shifts) == 10 and all(s.num_segments == T and s.shift_fraction == 0.125 for s in shifts)
    assert not any(isinstance(m, (TemporalShift, TemporalShiftSequential))
                   for m in student("mobilenet_v2", "tsn").modules())


def test_mobilenet_blocks_shift_an_eighth_of_the_channels_each_way_on_the_residual_branch():
    segments = 4
    model = student("mobilenet_v2", "tsm", num_segments=segments).eval()
    for index, channels in MOBILENET_SHORTCUT_BLOCKS.items():
        block = model.backbone.features[index]
        fold = channels // 8
        # value = 1000 * clip + 100 * frame + channel + 1: every entry non-zero and traceable
        x = (1000 * torch.arange(2).reshape(2, 1, 1, 1, 1) + 100 * torch.arange(segments).reshape(1, -1, 1, 1, 1)
             + torch.arange(channels).reshape(1, 1, -1, 1, 1) + 1).float().expand(2, segments, channels, 2, 2)
        seen = []
        handle = block.conv[0][0].register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0].clone()))
        with torch.no_grad():
            out = block(x.flatten(0, 1))
        handle.remove()
        expansion_input = seen[0].unflatten(0, (2, segments))
        zeros = torch.zeros(2, fold, 2, 2)
        for t in range(segments):
            from_next = x[:, t + 1, :fold] if t < segments - 1 else zeros
            from_previous = x[:, t - 1, fold:2 * fold] if t > 0 else zeros
            assert torch.equal(expansion_input[:, t, :fold], from_next), (index, t)
            assert torch.equal(expansion_input[:, t, fold:2 * fold], from_previous), (index, t)
            assert torch.equal(expansion_input[:, t, 2 * fold:], x[:, t, 2 * fold:]), (index, t)
        # the shortcut adds the unshifted input
        with torch.no_grad():
            branch = block.conv[1:](nn.Sequential(*block.conv[0])(seen[0]))
        torch.testing.assert_close(out, x.flatten(0, 1) + branch)


@pytest.mark.parametrize("head,neighbours", [("tsm", {0, 1, 2}), ("tsn", {1})])
def test_mobilenet_tsm_mixes_each_frame_with_the_next_and_previous_one(head, neighbours):
    # stage2 holds one shifted block (features[3]): frame 1's map there depends on frames 0-2
    # with tsm, on frame 1 alone with tsn (eval mode: no batch statistics mixing frames).
    model = student("mobilenet_v2", head, num_segments=4).eval()
    x = clips(n=1, t=4).requires_grad_()
    model(x)["features"]["stage2"][0, 1].sum().backward()
    reached = {t for t in range(4) if x.grad[0, t].abs().sum() > 0}
    assert reached == neighbours


def test_mobilenet_tsm_has_the_tsn_state_dict_and_shifts_from_stage2_on():
    tsn = student("mobilenet_v2", "tsn", seed=4)
    tsm = student("mobilenet_v2", "tsm", seed=5)
    assert list(tsm.state_dict()) == list(tsn.state_dict())
    tsm.load_state_dict(tsn.state_dict(), strict=True)  # checkpoints load either way
    x = clips()
    tsn, tsm = calibrated(tsn, x), calibrated(tsm, x)
    tsm.load_state_dict(tsn.state_dict(), strict=True)  # the same statistics too
    with torch.no_grad():
        plain, shifted = tsn(x), tsm(x)
    assert torch.equal(plain["features"]["stage1"], shifted["features"]["stage1"])  # no shortcut block yet
    for tap in ("stage2", "stage3", "stage4", "stage5"):
        assert not torch.allclose(plain["features"][tap], shifted["features"][tap], atol=1e-3), tap
    assert not torch.allclose(plain["logits"], shifted["logits"], atol=1e-3)


def test_mobilenet_tsm_reruns_from_every_tap_and_keeps_the_closed_form():
    # What GSDM relies on: logits_from_tap reruns the shifted blocks on [N*T] folded frames, and
    # tsm stays an average-consensus head (closed form of channel ablation at the last tap).
    x = clips()
    model = calibrated(student("mobilenet_v2", "tsm"), x)
    with torch.no_grad():
        out = model(x)
        for tap in model.tap_names:
            rerun = model.logits_from_tap(tap, out["features"][tap])
            torch.testing.assert_close(rerun["logits"], out["logits"])
            torch.testing.assert_close(rerun["semantic"], out["semantic"])
        last = out["features"]["stage5"]
        closed = model.channel_ablated_logits(last)
        for k in (0, 100):
            zeroed = last.clone()
            zeroed[:, :, k] = 0
            torch.testing.assert_close(closed[:, k], model.logits_from_last_tap(zeroed))


# --------------------------------------------------------------------------- 3. TRN
@pytest.mark.parametrize("segments,per_scale,expected", [
    (4, 3, {4: 1, 3: 3, 2: 3}),
    (5, 2, {5: 1, 4: 2, 3: 2, 2: 2}),
    (3, 3, {3: 1, 2: 3}),
    (4, 100, {4: 1, 3: 4, 2: 6}),  # fewer tuples than allowed: all of them
    (2, 3, {2: 1}),  # T = 2: exactly one scale, one relation
])
def test_trn_relations_per_scale_follow_the_rule(segments, per_scale, expected):
    model = build_student("resnet18", "trn", num_classes=C, embedding_dim=D,
                          num_segments=segments, trn_relations_per_scale=per_scale)
    head = model.head
    assert head.scales == tuple(expected)
    for scale, count in expected.items():
        relations = head.relations(scale)
        assert relations.dtype == torch.long and relations.shape == (count, scale)
        assert count == min(per_scale, math.comb(segments, scale)) if scale < segments else count == 1
        rows = [tuple(r) for r in relations.tolist()]
        assert len(set(rows)) == count  # distinct
        assert all(list(r) == sorted(set(r)) and 0 <= r[0] and r[-1] < segments for r in rows)
        assert f"head.relations_{scale}" in model.state_dict()  # saved with checkpoints
    if segments == 2:
        assert head.relations(2).tolist() == [[0, 1]]


def test_select_relations_is_seeded_and_never_enumerates_huge_sets():
    draw = lambda: select_relations(40, 20, 3, torch.Generator().manual_seed(0))  # C(40,20) ~ 1.4e11
    first, second = draw(), draw()
    assert first.shape == (3, 20) and torch.equal(first, second)
    rows = first.tolist()
    assert len({tuple(row) for row in rows}) == 3  # distinct subsets
    assert all(0 <= row[0] and row[-1] < 40 and all(a < b for a, b in zip(row, row[1:])) for row in rows)


def test_trn_relations_do_not_depend_on_the_global_seed_and_logits_are_reproducible():
    a = student("resnet18", "trn", seed=0, num_segments=4).eval()
    b = student("resnet18", "trn", seed=0, num_segments=4).eval()
    other = student("resnet18", "trn", seed=7, num_segments=4)
    for scale in a.head.scales:
        assert torch.equal(a.head.relations(scale), b.head.relations(scale))
        assert torch.equal(a.head.relations(scale), other.head.relations(scale))
    x = clips(t=4)
    with torch.no_grad():
        assert torch.equal(a(x)["logits"], b(x)["logits"])


def test_trn_logits_by_hand():
    model = student("resnet18", "trn", num_segments=4).eval()
    with torch.no_grad():
        out = model(clips(t=4))
        frames = out["frame_semantic"]
        expected = torch.zeros(N, C)
        for scale in (4, 3, 2):
            mlp = model.head.relation_mlps[f"scale_{scale}"]
            per_relation = [mlp(frames[:, list(r)].reshape(N, scale * D))
                            for r in model.head.relations(scale).tolist()]
            expected += torch.stack(per_relation, 1).mean(1)
    torch.testing.assert_close(out["logits"], expected)


# --------------------------------------------------------------------------- 4. TSN
@pytest.mark.parametrize("head", ["tsn", "tsm"])
def test_consensus_is_the_frame_mean_of_the_classifier(head):
    model = student("resnet18", head).eval()
    with torch.no_grad():
        out = model(clips())
        classifier = model.head.classifier
        per_frame = torch.stack([classifier(out["frame_semantic"][:, t]) for t in range(T)], 1)
    torch.testing.assert_close(out["logits"], per_frame.mean(1))
    # fc1 has no activation: per-frame semantics take negative values too
    assert (out["frame_semantic"] < 0).any()


# --------------------------------------------------------------------------- 5. pretrained
@pytest.fixture
def resnet18_weights(tmp_path):
    torch.manual_seed(1)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18-test.pth"
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("head", ["tsn", "tsm"])
def test_pretrained_weights_are_loaded(resnet18_weights, head):
    path, state = resnet18_weights
    model = student("resnet18", head, seed=5, pretrained_path=str(path))
    trunk = model.backbone
    conv = trunk.layer2[1].conv1.conv if head == "tsm" else trunk.layer2[1].conv1
    assert torch.equal(trunk.conv1.weight, state["conv1.weight"])
    assert torch.equal(conv.weight, state["layer2.1.conv1.weight"])
    assert torch.equal(trunk.bn1.running_mean, state["bn1.running_mean"])
    assert not torch.equal(student("resnet18", head, seed=5).backbone.conv1.weight,
                           state["conv1.weight"])  # i.e. it was the file, not the seed


@pytest.mark.parametrize("head", ["trn", "tsm"])
def test_pretrained_mobilenet_ignores_the_classifier(tmp_path, head):
    torch.manual_seed(1)
    state = torchvision.models.mobilenet_v2(weights=None).state_dict()
    assert any(key.startswith("classifier.") for key in state)
    path = tmp_path / "mobilenet_v2-test.pth"
    torch.save(state, path)
    model = student("mobilenet_v2", head, pretrained_path=path)
    assert torch.equal(model.backbone.features[18][0].weight, state["features.18.0.weight"])
    # a shifted block's expansion conv, under torchvision's own key
    assert torch.equal(model.backbone.features[3].conv[0][0].weight, state["features.3.conv.0.0.weight"])
    assert set(model.backbone.state_dict()) == {k for k in state if not k.startswith("classifier.")}


def test_pretrained_shape_mismatch_missing_and_unexpected_keys_raise(resnet18_weights, tmp_path):
    _, state = resnet18_weights
    wrong = dict(state, **{"layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1)})
    path = tmp_path / "wrong-shape.pth"
    torch.save(wrong, path)
    with pytest.raises(ValueError, match=r"wrong-shape\.pth.*layer1\.0\.conv1\.weight"):
        student(pretrained_path=path)

    missing = {k: v for k, v in state.items() if k != "layer3.0.bn2.bias"}
    torch.save(missing, path := tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"missing\.pth.*missing key 'layer3\.0\.bn2\.bias'"):
        student(pretrained_path=path)

    extra = dict(state, **{"layer5.weight": torch.zeros(1)})
    torch.save(extra, path := tmp_path / "extra.pth")
    with pytest.raises(ValueError, match=r"extra\.pth.*unexpected key 'layer5\.weight'"):
        student(pretrained_path=path)

    # a resnet50 file is not a resnet18 file
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path := tmp_path / "r50.pth")
    with pytest.raises(ValueError, match=r"r50\.pth"):
        student("resnet18", pretrained_path=path)


def test_pretrained_missing_file_raises(tmp_path):
    path = tmp_path / "nowhere" / "resnet18.pth"
    # FileNotFoundError, or the project's InputError (a ValueError) that names the file
    with pytest.raises((FileNotFoundError, ValueError), match="nowhere"):
        student(pretrained_path=path)


# --------------------------------------------------------------------------- 6. dtypes
@pytest.mark.parametrize("backbone,head", [("resnet18", "tsm"), ("mobilenet_v2", "trn"),
                                           ("mobilenet_v2", "tsm"), ("resnet18", "tsn")])
def test_channels_last_and_bfloat16_autocast(backbone, head):
    model = student(backbone, head).to(memory_format=torch.channels_last)
    assert first_conv(model).weight.is_contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(clips())
    assert out["logits"].dtype == torch.bfloat16
    for value in (out["logits"], out["semantic"], out["frame_semantic"], *out["features"].values()):
        assert torch.isfinite(value.float()).all()
    out["logits"].float().sum().backward()
    assert torch.isfinite(first_conv(model).weight.grad).all()


def test_float64_end_to_end():
    model = student("resnet18", "trn").double().eval()
    with torch.no_grad():
        out = model(clips().double())
    assert out["logits"].dtype == torch.float64 and out["semantic"].dtype == torch.float64


# --------------------------------------------------------------------------- 7. arguments
@pytest.mark.parametrize("kwargs,pattern", [
    ({"backbone": "vgg16"}, "resnet18, resnet50, mobilenet_v2"),
    ({"head": "lstm"}, "tsn, trn, tsm"),
    ({"num_segments": 0}, "num_segments"),
    ({"head": "trn", "num_segments": 1}, "num_segments >= 2"),
    ({"head": "tsm", "tsm_shift_fraction": 0.6}, "tsm_shift_fraction"),
    ({"dropout": 1.0}, "dropout"),
    ({"num_classes": 0}, "num_classes"),
    ({"embedding_dim": 2.5}, "embedding_dim"),
    ({"head": "trn", "trn_relations_per_scale": 0}, "trn_relations_per_scale"),
])
def test_bad_arguments_raise(kwargs, pattern):
    arguments = {"backbone": "resnet18", "head": "tsn", "num_classes": C, "embedding_dim": D,
                 "num_segments": T, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        build_student(arguments.pop("backbone"), arguments.pop("head"), **arguments)


def test_registries_are_exactly_the_expected_backbones_and_heads():
    assert tuple(BACKBONES) == EXPECTED_BACKBONES  # in this order: error messages list them so
    assert tuple(HEADS) == EXPECTED_HEADS
    # Every combination the registries allow is built (test_output_contract).
    assert set(itertools.product(BACKBONES, HEADS)) == set(VALID)


def test_a_backbone_without_a_temporal_shift_is_refused_in_one_line(monkeypatch):
    # Every backbone has one now; a new backbone would be refused until its trunk inserts it.
    monkeypatch.setattr(students, "TSM_BACKBONES", ("resnet18", "resnet50"))
    with pytest.raises(ValueError, match=r"^the tsm head .*mobilenet_v2.*use one of: resnet18, resnet50$") as error:
        student("mobilenet_v2", "tsm")
    assert "\n" not in str(error.value)
