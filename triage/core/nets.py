"""Two small networks written out by hand (no torchvision), sized for CPU triage.

Both are plain stacks of strided 3x3 convolutions with BatchNorm and ReLU, global average
pooling and a linear head that outputs one logit per finding. They have about 0.3M parameters
(about 1.2 MB of float32 weights) and no data-dependent Python control flow, so they export with
``torch.export`` as well as load from a state_dict.

Each net keeps the keyword arguments it was built with in ``init_kwargs``; a model package's
``weights.init_kwargs`` is that dict, so the loader can rebuild the same architecture.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

# Output channels of the four stages; each stage halves the resolution.
DEFAULT_WIDTHS: tuple[int, ...] = (16, 32, 64, 128)


def _stage(in_channels: int, out_channels: int) -> nn.Sequential:
    """Halve the resolution with a strided convolution, then refine at that resolution."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class _Backbone(nn.Module):
    """(B, C, H, W) -> (B, widths[-1]) features: strided conv stages, global average pooling."""

    def __init__(self, in_channels: int, widths: tuple[int, ...] = DEFAULT_WIDTHS) -> None:
        super().__init__()
        channels = (in_channels, *widths)
        self.stages = nn.Sequential(*(_stage(a, b) for a, b in pairwise(channels)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.stages(x)), 1)


def _init_weights(module: nn.Module) -> None:
    """He initialisation for convolutions, a near-zero head; deterministic under manual_seed."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class HeadCTNet(nn.Module):
    """Head CT volume -> one logit per finding.

    Input ``(N, slices, channels, H, W)``: each slice (its channels being CT windows, e.g. brain,
    subdural, bone) goes through the same 2D CNN, giving one feature vector per slice; the
    features are max-pooled over slices (a finding on any slice counts for the volume) and a
    linear head turns them into logits ``(N, n_findings)``. Any number of slices works, and the
    slice count may differ from batch to batch.
    """

    def __init__(self, n_findings: int = 1, in_channels: int = 3) -> None:
        super().__init__()
        _check_positive(n_findings=n_findings, in_channels=in_channels)
        self.init_kwargs = {"n_findings": n_findings, "in_channels": in_channels}
        self.backbone = _Backbone(in_channels)
        self.head = nn.Linear(self.backbone.out_features, n_findings)
        _init_weights(self)

    def slice_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, S, C, H, W) -> (N, S, F): the per-slice features before pooling over slices."""
        n = x.shape[0]
        # Fold the slices into the batch; shapes come from the tensor, never from Python
        # branches, so torch.export keeps batch and slice counts symbolic.
        folded = x.reshape(-1, x.shape[2], x.shape[3], x.shape[4])
        return self.backbone(folded).reshape(n, -1, self.backbone.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        volume = torch.amax(self.slice_features(x), dim=1)
        return self.head(volume)


class ChestXRNet(nn.Module):
    """Chest radiograph ``(N, channels, H, W)`` -> one logit per finding ``(N, n_findings)``."""

    def __init__(self, n_findings: int = 1, in_channels: int = 1) -> None:
        super().__init__()
        _check_positive(n_findings=n_findings, in_channels=in_channels)
        self.init_kwargs = {"n_findings": n_findings, "in_channels": in_channels}
        self.backbone = _Backbone(in_channels)
        self.head = nn.Linear(self.backbone.out_features, n_findings)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
