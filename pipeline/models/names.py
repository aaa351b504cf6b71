"""The models' names, without torch: what ``students.py`` and ``teachers.py`` build and what
``pipeline/params.py`` accepts come from here, so params can check a choice (a backbone, a
feature tap, a head) at load time without importing torch."""
from __future__ import annotations

# ---------------------------------------------------------------- the video student
BACKBONES = ("resnet18", "resnet50", "mobilenet_v2")
HEADS = ("tsn", "trn", "tsm")
RESNET_TAPS = ("stem", "layer1", "layer2", "layer3", "layer4")
MOBILENET_V2_TAPS = ("stage1", "stage2", "stage3", "stage4", "stage5")
# The feature taps each backbone's trunk returns, shallow to deep.
BACKBONE_TAPS = {"resnet18": RESNET_TAPS, "resnet50": RESNET_TAPS, "mobilenet_v2": MOBILENET_V2_TAPS}
# Backbones whose trunk knows where TSM's shift goes (its residual blocks); listed, not derived,
# because a new backbone needs its own insertion.
TSM_BACKBONES = ("resnet18", "resnet50", "mobilenet_v2")
# Heads that relate frames to each other and so need at least 2 segments.
MULTI_FRAME_HEADS = ("trn",)

# ---------------------------------------------------------------- the sensor teachers
# Convolutions per block (5 blocks, max-pool after each) of each VGG layout.
VGG_LAYOUTS = {"vgg16": (2, 2, 3, 3, 3), "vgg11": (1, 1, 2, 2, 2)}
TEACHER_CONV_TAPS = ("conv1", "conv2", "conv3", "conv4", "conv5")  # spatial maps: the distillation taps
TEACHER_TAPS = TEACHER_CONV_TAPS + ("fc1", "fc2")  # the seven places SPAMFM may sit (the paper uses all)
SPAMFM_GATES = ("sigmoid", "relu")
# How SPAMFM relates a sample to its batch-mates (docs/method.md §3): the paper's row-normalised
# Gram matrix, a sharpened softmax over centred cosine similarities, or no relation at all.
SPAMFM_RELATIONS = ("gram", "softmax", "self")
