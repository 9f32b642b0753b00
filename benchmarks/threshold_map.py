"""Time the colour-variance threshold map against a scikit-image reference, in the same run.

    python benchmarks/threshold_map.py [--photo PATH] [--sizes 1 4 12] [--repeats 3]

A real photo from ../shared/photos is resized (bicubic) to each size in megapixels. The reference
is the straightforward vectorised reading of ALGORITHMS.md section 2 with scikit-image: rgb2lab
once, then deltaE_ciede2000 on whole shifted arrays for each of the window's 24 offsets, always
timed on the full image. Also times the quality metrics at the largest size.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import skimage.color
import torch
from PIL import Image

from pixelguard import metrics
from pixelguard.threshold import colour_variance_map

SHARED_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"


def skimage_reference_map(rgb: np.ndarray, window: int = 5, sigma: float = 1.0) -> np.ndarray:
    """cV with scikit-image, one whole-image DeltaE00 per offset, in float64."""
    lab = skimage.color.rgb2lab(rgb)
    height, width = rgb.shape[:2]
    radius = window // 2
    square_sums = np.zeros((height, width))
    counts = np.zeros((height, width))
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if (dy, dx) == (0, 0):
                continue
            weight = math.exp(-(dy * dy + dx * dx) / (2 * sigma**2)) / (2 * math.pi * sigma**2)
            here = (slice(max(0, -dy), height - max(0, dy)), slice(max(0, -dx), width - max(0, dx)))
            there = (slice(max(0, dy), height + min(0, dy)), slice(max(0, dx), width + min(0, dx)))
            square_sums[here] += (weight * skimage.color.deltaE_ciede2000(lab[here], lab[there])) ** 2
            counts[here] += 1
    raw = np.sqrt(square_sums / counts)
    return raw / raw.max()


def resized(photo: Image.Image, megapixels: float) -> np.ndarray:
    scale = math.sqrt(megapixels * 1e6 / (photo.width * photo.height))
    size = (round(photo.width * scale), round(photo.height * scale))
    return np.array(photo.resize(size, Image.BICUBIC))


def timed(function, *args):
    """(wall seconds, CPU seconds of this process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=SHARED_PHOTOS / "cat_1080p.jpg")
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 12], help="megapixels")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the fast map per size (median is shown)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    photo = Image.open(args.photo).convert("RGB")
    print(f"photo: {args.photo.name} ({photo.width}x{photo.height}), resized with bicubic")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs; torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; load average {os.getloadavg()[0]:.2f}"
    )
    print("wall = elapsed seconds; cpu = CPU seconds of this process (all threads; scikit-image uses one)")
    colour_variance_map(torch.rand(3, 64, 64))  # warm-up
    header = f"{'size':>22} {'pixelguard wall':>15} {'cpu':>6} {'skimage wall':>12} {'cpu':>6} {'wall ratio':>10} {'cpu ratio':>9} {'max |diff|':>10}"
    print(header)
    for megapixels in args.sizes:
        rgb = resized(photo, megapixels)
        image = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
        runs = [timed(colour_variance_map, image) for _ in range(args.repeats)]
        fast_wall = statistics.median(wall for wall, _, _ in runs)
        fast_cpu = statistics.median(cpu for _, cpu, _ in runs)
        reference_wall, reference_cpu, reference = timed(skimage_reference_map, rgb)
        difference = np.abs(runs[0][2].numpy() - reference).max()
        label = f"{rgb.shape[1]}x{rgb.shape[0]} ({rgb.shape[0] * rgb.shape[1] / 1e6:.1f} MP)"
        print(
            f"{label:>22} {fast_wall:15.2f} {fast_cpu:6.2f} {reference_wall:12.1f} {reference_cpu:6.1f} "
            f"{reference_wall / fast_wall:9.1f}x {reference_cpu / fast_cpu:8.1f}x {difference:10.1e}"
        )

    perturbed = np.clip(rgb.astype(np.int16) + np.random.default_rng(0).integers(-3, 4, rgb.shape), 0, 255).astype(np.uint8)
    print(f"quality metrics on {rgb.shape[1]}x{rgb.shape[0]}, uint8 arrays (wall / cpu seconds):")
    for name in ("ssim", "psnr", "delta_e_stats", "linf"):
        wall, cpu, value = timed(getattr(metrics, name), rgb, perturbed)
        print(f"  {name:>14}: {wall:6.2f} / {cpu:6.2f}  ({value})")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
