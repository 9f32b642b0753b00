"""Does a protection hold where the photo actually goes? Every shared photo at its native size.

Each preset protects every photo in ../shared/photos (PNG and JPEG q90 output), then judges
that share none of PixelGuard's preprocessing classify the saved files:
- the reference EfficientNet-Lite implementation (the `efficientnet_lite_pytorch` package, not
  PixelGuard's network code) with the lite0 weights, behind Pillow's bilinear resize and behind
  OpenCV's INTER_LINEAR (no antialiasing), both 256 px shorter side + centre crop 224, written
  here with Pillow and OpenCV;
- lite2 (never used to protect), behind Pillow bicubic 292 / 260;
each on the file as saved and after an upload done with OpenCV (INTER_AREA to 1080 px on the
long side, then cv2.imencode JPEG q75, 4:2:0).
The clean label is lite0's top-1 on the original through the same judge pipeline.
Columns: own = PixelGuard's own verdict (own pipeline + its panel); top-5 removal on the lite0
judges; lite2 top-1 changed and top-1 semantically far from lite2's clean top-1; SSIM, CIEDE2000,
seconds, peak memory (each preset runs in its own process).

Usage: python benchmarks/wild.py [--presets fast,balanced,strong] [--formats png,jpeg]
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

import numpy as np

from _common import UPLOAD_LONG_SIDE, UPLOAD_QUALITY, independent_judges, markdown_table, real_photos, upload

RESULTS = Path(__file__).resolve().parent / "results"


def run_preset(preset: str, fmt: str, jpeg_gradient: str) -> dict:
    from pixelguard import imageio, metrics, perceptual, views
    from pixelguard.protect import Protector
    from pixelguard.settings import preset_settings
    from pixelguard.semantics import load_relation

    views.JPEG_GRADIENT = jpeg_gradient
    relation = load_relation("imagenet")
    judge = independent_judges()
    # JPEG at quality 90, 4:4:4, as the figures in the README were measured (the default now keeps
    # a JPEG original's own tables: benchmarks/jpeg_output.py compares the two).
    protector = Protector(preset_settings(preset, format=fmt, jpeg_quality=90))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for photo in real_photos():
            source = imageio.load_image(photo)
            started = time.perf_counter()
            record = protector.protect_image(source, imageio.output_path_for(photo, Path(folder), fmt), keep_failed=True)
            seconds = time.perf_counter() - started
            saved = imageio.load_image(record.output).rgb
            per_pixel = perceptual.delta_e_map(imageio.rgb_to_tensor(source.rgb), imageio.rgb_to_tensor(saved)).numpy()
            row = {"photo": photo.name, "megapixels": source.rgb.shape[0] * source.rgb.shape[1] / 1e6,
                   "own": record.status == "protected", "seconds": seconds, "iterations": record.iterations,
                   "attempts": record.attempts,
                   "ssim": metrics.ssim(source.rgb, saved), "de_mean": float(per_pixel.mean()),
                   "de_p95": float(np.percentile(per_pixel, 95)), "de_p99": float(np.percentile(per_pixel, 99))}
            for name, classify in judge.items():
                truth = int(classify(source.rgb).argmax())
                for where, pixels in (("saved", saved), ("upload", upload(saved))):
                    logits = classify(pixels)
                    top5 = logits.topk(5).indices.tolist()
                    row[f"{name} {where} top5"] = truth not in top5
                    row[f"{name} {where} top1"] = top5[0] != truth
                    row[f"{name} {where} far"] = not relation.related(truth, top5[0])
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return {"rows": rows, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def summarise(preset: str, fmt: str, result: dict) -> list:
    rows = result["rows"]

    def rate(key: str) -> str:
        return f"{sum(r[key] for r in rows) / len(rows):.0%}"

    seconds = [r["seconds"] for r in rows]
    return [
        preset, fmt, rate("own"),
        rate("lite0 pillow saved top5"), rate("lite0 pillow upload top5"),
        rate("lite0 opencv saved top5"), rate("lite0 opencv upload top5"),
        rate("lite2 pillow saved top1"), rate("lite2 pillow upload top1"), rate("lite2 pillow upload far"),
        f"{np.mean([r['ssim'] for r in rows]):.4f} / {min(r['ssim'] for r in rows):.4f}",
        f"{np.mean([r['de_mean'] for r in rows]):.2f} / {np.mean([r['de_p95'] for r in rows]):.2f} / "
        f"{np.mean([r['de_p99'] for r in rows]):.2f}",
        f"{np.mean(seconds):.1f}", f"{sum(seconds) / sum(r['megapixels'] for r in rows):.1f}",
        f"{result['peak_mb']:.0f}",
    ]


HEADER = ["preset", "output", "own verdict", "lite0 Pillow saved", "lite0 Pillow upload", "lite0 OpenCV saved",
          "lite0 OpenCV upload", "lite2 top-1 changed saved", "lite2 top-1 changed upload",
          "lite2 top-1 far upload", "SSIM mean / min", "ΔE00 mean / p95 / p99", "s / photo", "s / MP", "peak MB"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="fast,balanced,strong")
    parser.add_argument("--formats", default="png,jpeg")
    parser.add_argument("--jpeg-gradient", default="straight-through", choices=("straight-through", "kornia"),
                        help="how the optimisation differentiates JPEG: the real encoder, straight-through "
                             "(PixelGuard's), or kornia's differentiable JPEG (for comparison)")
    parser.add_argument("--one", nargs=2, metavar=("PRESET", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_preset(*args.one, args.jpeg_gradient)))
        return
    RESULTS.mkdir(exist_ok=True)
    table = []
    for preset in args.presets.split(","):
        for fmt in args.formats.split(","):
            done = subprocess.run([sys.executable, __file__, "--one", preset, fmt, "--jpeg-gradient", args.jpeg_gradient],
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(done.stderr)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            suffix = "" if args.jpeg_gradient == "straight-through" else f"-{args.jpeg_gradient}"
            (RESULTS / f"wild-{preset}-{fmt}{suffix}.json").write_text(json.dumps(result, indent=1))
            table.append(summarise(preset + suffix, fmt, result))
            print(markdown_table(HEADER, table[-1:]), flush=True)
    print()
    print(f"{len(real_photos())} photos at native size; upload = OpenCV INTER_AREA to {UPLOAD_LONG_SIDE} px + "
          f"JPEG q{UPLOAD_QUALITY}; rates over photos")
    print(markdown_table(HEADER, table))


if __name__ == "__main__":
    main()
