"""Visual front-end of AV-HuBERT: a 3-D convolution stem followed by a 2-D ResNet trunk.

Module and parameter names follow upstream ``avhubert/resnet.py`` exactly
(``frontend3D.{0,1,2}``, ``trunk.layerN.M.{conv1,bn1,relu1,conv2,bn2,relu2,downsample}``) so
official checkpoints load by name. ``width`` and ``blocks`` are our extension for tiny CPU
models; the defaults (64, [2, 2, 2, 2]) reproduce upstream's ResNet-18 with a 512-d output.
"""

from __future__ import annotations

import logging
import math
from typing import Optional, Sequence

import torch
import torch.nn as nn

logger = logging.getLogger(__name__)


def _activation(relu_type: str, channels: int) -> nn.Module:
    if relu_type == "prelu":
        return nn.PReLU(num_parameters=channels)
    if relu_type == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"resnet_relu_type must be 'relu' or 'prelu', got {relu_type!r}")


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection (ResNet-18 block)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: Optional[nn.Module] = None,
        relu_type: str = "prelu",
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = _activation(relu_type, planes)
        self.relu2 = _activation(relu_type, planes)  # registered before conv2, as upstream
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + residual)


class ResNetTrunk(nn.Module):
    """Four residual stages (widths ``width * [1, 2, 4, 8]``) and global average pooling."""

    def __init__(self, width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2), relu_type: str = "prelu") -> None:
        super().__init__()
        if len(blocks) != 4 or any(int(b) < 1 for b in blocks):
            raise ValueError(f"resnet_blocks must be 4 positive integers, got {list(blocks)}")
        self.inplanes = width
        self.layer1 = self._make_layer(width, blocks[0], 1, relu_type)
        self.layer2 = self._make_layer(width * 2, blocks[1], 2, relu_type)
        self.layer3 = self._make_layer(width * 4, blocks[2], 2, relu_type)
        self.layer4 = self._make_layer(width * 8, blocks[3], 2, relu_type)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():  # upstream's initialisation
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def _make_layer(self, planes: int, n_blocks: int, stride: int, relu_type: str) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample, relu_type=relu_type)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes, relu_type=relu_type) for _ in range(1, n_blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)


class ResEncoder(nn.Module):
    """Per-frame visual encoder: ``B x 1 x T x H x W`` video -> ``B x (8*width) x T`` features."""

    def __init__(
        self,
        relu_type: str = "prelu",
        weights: Optional[str] = None,
        width: int = 64,
        blocks: Sequence[int] = (2, 2, 2, 2),
    ) -> None:
        super().__init__()
        self.frontend_nout = width
        self.backend_out = width * 8
        self.frontend3D = nn.Sequential(
            nn.Conv3d(1, width, kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.PReLU(num_parameters=width) if relu_type == "prelu" else nn.ReLU(),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        self.trunk = ResNetTrunk(width, blocks, relu_type)
        #: run the convolutions on channels-last activations (cuDNN's tensor-core layout; the weights keep their
        #: layout, so state dicts and fairseq's flattened fp16 master copy are unchanged). Off = upstream's layout.
        self.channels_last = False
        if weights:
            self.load_frontend_weights(weights)

    def load_frontend_weights(self, path: str) -> None:
        """Load a lip-reading ResNet checkpoint (``{'model_state_dict': ...}``) as upstream's ``resnet_weights``."""
        logger.info("loading resnet weights from %s", path)
        state = torch.load(path, map_location="cpu", weights_only=True)
        if "model_state_dict" not in state:
            raise ValueError(
                f"{path}: expected a dict with 'model_state_dict' (resnet_weights); got keys {list(state)[:5]}"
            )
        front, trunk = {}, {}
        for key, val in state["model_state_dict"].items():
            sub = key.split(".", 1)[1] if "." in key else key
            if "frontend3D" in key:
                front[sub.split("frontend3D.", 1)[-1]] = val
            if "trunk" in key:
                trunk[sub.split("trunk.", 1)[-1]] = val
        self.frontend3D.load_state_dict(front)
        self.trunk.load_state_dict(trunk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.size(0)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        x = self.frontend3D(x)  # B x C x T x H' x W'
        t_new = x.size(2)
        # channels-last (B, T, H', W', C in memory): the reshape below is a view, and the trunk stays channels-last
        x = x.transpose(1, 2).reshape(batch * t_new, x.size(1), x.size(3), x.size(4))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.trunk(x)  # (B*T) x D
        return x.view(batch, t_new, -1).transpose(1, 2).contiguous()
