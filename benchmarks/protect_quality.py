"""Protection quality on the real photos: success, SSIM, DeltaE00, iterations, seconds.

For each photo in ../shared/photos, at native resolution, with the default model, for the
top1 and top5 conditions, saved as PNG and as JPEG q90. Success is read off the saved file.
Usage: python benchmarks/protect_quality.py [--max-iter N] [--photos N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _common import markdown_table, real_photos

from pixelguard import imageio, metrics
from pixelguard.imageio import encoder_options
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from pixelguard.settings import preset_settings
from pixelguard.views import encode_decode


def plain_reencode_ssim(photo: Path, quality: int) -> float:
    """SSIM of the photo re-encoded as JPEG without any protection: the floor JPEG itself sets."""
    rgb = imageio.load_image(photo).rgb
    return metrics.ssim(rgb, encode_decode(rgb, **encoder_options("jpeg", quality)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--photos", type=int, default=0, help="only the first N photos (0: all)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    photos = real_photos()[: args.photos or None]
    per_photo, summary = [], []
    model = None
    with tempfile.TemporaryDirectory() as out:
        for condition in ("top1", "top5"):
            for fmt, quality in (("png", 90), ("jpeg", 90)):
                settings = preset_settings("fast", condition=condition, format=fmt, jpeg_quality=quality,
                                           max_iter=args.max_iter, device=args.device)
                protector = Protector(settings, model=model)
                model = protector.model
                jobs = [Job(p, Path(out) / condition / fmt / f"{p.stem}.{'png' if fmt == 'png' else 'jpg'}")
                        for p in photos]
                records = list(protect_batch(jobs, protector, keep_failed=True))
                for r in records:
                    per_photo.append([Path(r.input).name, condition, fmt, r.label, "yes" if r.success else "NO",
                                      r.after[0][0] if r.after else "-", r.ssim, r.delta_e_mean, r.iterations, r.seconds])
                ok = [r for r in records if r.status in ("protected", "failed")]
                floor = (statistics.mean(plain_reencode_ssim(Path(r.input), quality) for r in ok)
                         if fmt == "jpeg" else 1.0)
                summary.append([
                    condition, f"{fmt} q{quality}" if fmt == "jpeg" else fmt,
                    f"{sum(r.success for r in ok)}/{len(ok)}",
                    statistics.mean(r.ssim for r in ok), min(r.ssim for r in ok), floor,
                    statistics.mean(r.delta_e_mean for r in ok),
                    statistics.mean(r.iterations for r in ok), statistics.mean(r.seconds for r in ok),
                ])
    print(markdown_table(["photo", "condition", "format", "label removed", "protected", "new top-1",
                          "SSIM", "mean dE00", "iterations", "seconds"], per_photo))
    print()
    print(markdown_table(["condition", "saved as", "protected", "mean SSIM", "min SSIM",
                          "mean SSIM of a plain re-encode", "mean dE00",
                          "mean iterations", "mean seconds"], summary))
    print(f"\ndevice: {protector.device}; photos at native resolution; max {args.max_iter} iterations")


if __name__ == "__main__":
    main()
