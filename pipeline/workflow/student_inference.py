"""A trained video student put to use: rebuilt from its model file, and its logits over a set
of clips (validation, test, or the clips a self-training control labels)."""
from __future__ import annotations

import torch
from torch import nn

from pipeline.data import VideoClips, normalize_clips
from pipeline.training import Runtime, loader


def student_from(saved: dict, runtime: Runtime) -> nn.Module:
    from pipeline.models.students import build_student  # torchvision: seconds to import, for students only

    student = build_student(**saved["config"])
    student.load_state_dict(saved["state"])
    return student.to(runtime.device, memory_format=torch.channels_last).eval()


@torch.no_grad()
def student_predict(student: nn.Module, dataset: VideoClips, batch_size: int, runtime: Runtime,
                    workers: int = 0) -> torch.Tensor:
    """Logits of every clip, in dataset order (an unshuffled loader, not split across ranks);
    uint8 clips are normalised on the device."""
    student.eval()
    logits = []
    for clips, _, _ in loader(dataset, batch_size, runtime, seed=0, shuffle=False, workers=workers):
        clips = runtime.to_device(clips)
        if clips.dtype == torch.uint8:
            clips = normalize_clips(clips)
        with runtime.autocast():
            logits.append(student(clips)["logits"].float().cpu())
    return torch.cat(logits)
