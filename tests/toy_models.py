"""A tiny deterministic classifier for fast tests of the attack loop and the pipeline."""

import torch


class ToyClassifier(torch.nn.Module):
    """Logits from 4x4 average-pooled colours: differentiable, any input size, deterministic."""

    def __init__(self, classes: int = 10):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weight = torch.nn.Parameter(torch.randn(classes, 3 * 16, generator=generator), requires_grad=False)
        self.labels = [f"class {i}" for i in range(classes)]

    def forward(self, x):
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
        return 4 * (pooled - 0.5) @ self.weight.T


def paper_settings(**values):
    """ProtectSettings of the published attack (RGB budget, the model's own pipeline, top-5), which
    the toy models here can run: the robust default needs a model with a known input size."""
    from pixelguard.settings import preset_settings

    return preset_settings("fast", **values)
