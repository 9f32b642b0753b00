"""PixelGuard: invisible, per-pixel perturbations that keep photo classifiers from reading your photos."""

__version__ = "0.1.0"
