"""Seconds and peak memory to protect 1, 4 and 12 megapixel photos, per preset.

Each preset and size runs in a fresh process so its peak memory (max RSS, and CUDA peak on a
GPU) is its own. The photo is a real one from ../shared/photos, resized up with Lanczos. The
Fast preset (the published attack on the model's own pipeline) is the baseline of the same run.
Usage: python benchmarks/protect_speed.py [--device auto] [--sizes 1,4,12] [--presets fast,balanced]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PHOTOS, markdown_table

SOURCE_PHOTO = "kite_and_cold.jpg"


def measure(megapixels: float, device: str, preset: str) -> dict:
    from PIL import Image

    from pixelguard.batch import Job, protect_batch
    from pixelguard.protect import Protector
    from pixelguard.settings import preset_settings

    with Image.open(PHOTOS / SOURCE_PHOTO) as photo:
        photo = photo.convert("RGB")
        scale = (megapixels * 1e6 / (photo.width * photo.height)) ** 0.5
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "photo.png"
        photo.save(source)
        settings = preset_settings(preset, format="png", device=device)
        protector = Protector(settings)
        import torch

        if protector.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        record = next(protect_batch([Job(source, Path(folder) / "out.png")], protector))
        seconds = time.perf_counter() - started
    result = {
        "megapixels": round(photo.width * photo.height / 1e6, 2), "size": f"{photo.width}x{photo.height}",
        "preset": preset, "seconds": round(seconds, 2), "iterations": record.iterations, "success": record.success,
        "ssim": record.ssim, "device": str(protector.device),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
    }
    if protector.device.type == "cuda":
        result["cuda_peak_gb"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", default="1,4,12")
    parser.add_argument("--presets", default="fast,balanced")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)  # child process: one size
    parser.add_argument("--preset", default="balanced", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.device, args.preset)))
        return
    rows = []
    for size in (float(s) for s in args.sizes.split(",")):
        for preset in args.presets.split(","):
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(size), "--device", args.device, "--preset", preset],
                capture_output=True, text=True, check=True,
            )
            result = json.loads(child.stdout.strip().splitlines()[-1])
            rows.append([result["preset"], result["size"], result["megapixels"], result["device"], result["seconds"],
                         result["iterations"], result["success"], result["ssim"], result["peak_rss_gb"],
                         result.get("cuda_peak_gb", "-")])
            print(rows[-1], file=sys.stderr)
    print(markdown_table(["preset", "size", "MP", "device", "seconds", "iterations", "protected", "SSIM",
                          "peak RSS GB", "CUDA peak GB"], rows))


if __name__ == "__main__":
    main()
