"""The triage networks, written out by hand (no torchvision), sized for CPU triage.

Version 1 (``HeadCTNet``, ``ChestXRNet``): plain stacks of strided 3x3 convolutions with
BatchNorm and ReLU, global average pooling and a linear head, one logit per finding. Version 2
(``HeadCTMapNet``, ``ChestXRMapNet``): a small U-Net draws a map of where the finding is and the
image's score is its strongest patch; ``HeadCTMapEnsemble`` and ``ChestXRMapEnsemble`` average
several of them trained from different seeds. All have no data-dependent Python control flow,
so they export with ``torch.export`` as well as load from a state_dict.

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

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits and the pooled features they come from, ``(N, F)`` (novelty checks)."""
        volume = torch.amax(self.slice_features(x), dim=1)
        return self.head(volume), volume


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

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits and the pooled features they come from, ``(N, F)`` (novelty checks)."""
        features = self.backbone(x)
        return self.head(features), features


def parameter_count(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------
# Version 2: a map of where the finding is, and the image's score its strongest point


class _Down(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = _stage(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def _conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


# Channels of the map network's five levels (stem, four halvings).
MAP_WIDTHS: tuple[int, ...] = (12, 20, 32, 48, 64)


class LesionMap(nn.Module):
    """(B, C, H, W) -> (B, n_findings, H/4, W/4) logits: how much each patch looks like it.

    A small U-Net: four strided stages down to H/32... H/16, then back up to H/4 with skip
    connections, so each patch's logit sees both its own pixels (a thin pleural line, a 3 mm
    subdural rim) and enough of the surroundings (inside the skull or outside it, lung or not).
    """

    def __init__(self, in_channels: int, n_findings: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.stem = _conv(in_channels, w0)
        self.down1, self.down2 = _Down(w0, w1), _Down(w1, w2)
        self.down3, self.down4 = _Down(w2, w3), _Down(w3, w4)
        self.up3 = _conv(w4 + w3, w3)
        self.up2 = _conv(w3 + w2, w2)
        self.out = nn.Conv2d(w2, n_findings, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.map_and_features(x)[0]

    def map_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The patch logits and the deepest level's channels averaged over the image, (B, w4):
        what the map saw, for telling an image like the training ones from one unlike them."""
        x2 = self.down2(self.down1(self.stem(x)))
        x3 = self.down3(x2)
        x4 = self.down4(x3)
        y = self.up3(torch.cat([nn.functional.interpolate(x4, scale_factor=2.0), x3], 1))
        y = self.up2(torch.cat([nn.functional.interpolate(y, scale_factor=2.0), x2], 1))
        return self.out(y), x4.mean(dim=(2, 3))


class _MapNet(nn.Module):
    """A ``LesionMap`` with the keyword arguments it was built with (``init_kwargs``)."""

    def __init__(self, n_findings: int, in_channels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        _check_positive(n_findings=n_findings, in_channels=in_channels)
        self.init_kwargs = {
            "n_findings": n_findings,
            "in_channels": in_channels,
            "widths": list(widths),
        }
        self.lesion_map = LesionMap(in_channels, n_findings, tuple(widths))
        _init_weights(self)


class HeadCTMapNet(_MapNet):
    """Head CT volume ``(N, slices, channels, H, W)`` -> one logit per finding ``(N, n)``.

    Every slice gets a patch map (``LesionMap``); the volume's logit is the highest patch logit
    of any slice. A bleed is somewhere: scoring its strongest evidence, wherever it lies and
    however many slices there are, is what keeps the score from depending on head size,
    position or slice count, which is what a model trained on one drawing of heads learns.
    """

    def __init__(
        self, n_findings: int = 1, in_channels: int = 3, widths: tuple[int, ...] = MAP_WIDTHS
    ) -> None:
        super().__init__(n_findings, in_channels, widths)

    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """(N, S, C, H, W) -> (N, S, n_findings, H/4, W/4) patch logits."""
        return self._maps_and_features(x)[0]

    def _maps_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        folded = x.reshape(-1, x.shape[2], x.shape[3], x.shape[4])
        out, features = self.lesion_map.map_and_features(folded)
        maps = out.reshape(n, -1, out.shape[1], out.shape[2], out.shape[3])
        return maps, features.reshape(n, -1, features.shape[1]).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.maps(x), dim=(1, 3, 4))

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits and the volume's features, its slices' averaged (novelty checks)."""
        maps, features = self._maps_and_features(x)
        return torch.amax(maps, dim=(1, 3, 4)), features


class ChestXRMapNet(_MapNet):
    """Radiograph ``(N, channels, H, W)`` -> logits ``(N, n_findings)``: the strongest patch."""

    def __init__(
        self, n_findings: int = 1, in_channels: int = 1, widths: tuple[int, ...] = MAP_WIDTHS
    ) -> None:
        super().__init__(n_findings, in_channels, widths)

    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, n_findings, H/4, W/4) patch logits."""
        return self.lesion_map(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.maps(x), dim=(2, 3))

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits and the image's features (novelty checks)."""
        maps, features = self.lesion_map.map_and_features(x)
        return torch.amax(maps, dim=(2, 3)), features


class _MapEnsemble(nn.Module):
    """Several map networks of one kind (``member_class``) trained alike from different seeds:
    their logits averaged, ``(N, n_findings)``.

    One network trained on generated images learns the finding together with some of the
    generator's habits, and which habits depends on its seed: on images drawn by another hand
    each seed is wrong on different normals. Their average keeps what they agree on and takes
    the luck of one seed out of what ships (README, issue 12).
    """

    member_class: type[_MapNet]
    default_in_channels: int

    def __init__(
        self,
        members: int = 3,
        n_findings: int = 1,
        in_channels: int | None = None,
        widths: tuple[int, ...] = MAP_WIDTHS,
    ) -> None:
        super().__init__()
        in_channels = self.default_in_channels if in_channels is None else in_channels
        _check_positive(members=members)
        self.init_kwargs = {
            "members": members,
            "n_findings": n_findings,
            "in_channels": in_channels,
            "widths": list(widths),
        }
        self.members = nn.ModuleList(
            self.member_class(n_findings, in_channels, tuple(widths)) for _ in range(members)
        )

    @classmethod
    def of(cls, nets: list[_MapNet]) -> _MapEnsemble:
        """An ensemble holding these trained networks (their weights copied in)."""
        first = nets[0].init_kwargs
        ensemble = cls(len(nets), first["n_findings"], first["in_channels"], first["widths"])
        for slot, net in zip(ensemble.members, nets, strict=True):
            slot.load_state_dict(net.state_dict())
        return ensemble.train(nets[0].training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The averaged logits and every member's features side by side, ``(N, members x F)``:
        the members' channels mean different things, so they are kept apart, not averaged."""
        outputs = [member.logits_and_features(x) for member in self.members]
        logits = torch.stack([out[0] for out in outputs]).mean(dim=0)
        return logits, torch.cat([out[1] for out in outputs], dim=1)


class ChestXRMapEnsemble(_MapEnsemble):
    """``ChestXRMapNet`` members: ``(N, C, H, W)`` -> averaged logits. The shipped three meet
    the goal on two chest families drawn by another hand; on the third they rank no better
    than their best member (README, issue 12)."""

    member_class = ChestXRMapNet
    default_in_channels = 1


class HeadCTMapEnsemble(_MapEnsemble):
    """``HeadCTMapNet`` members: ``(N, slices, C, H, W)`` -> each member's strongest patch
    logit, averaged. A single head network's false flags on heads drawn by another hand were
    single hot patches (thalami, skull base); two members did not rank the deciding splits
    better than one (README, "Two heads averaged"), so the shipped head is one network."""

    member_class = HeadCTMapNet
    default_in_channels = 3
