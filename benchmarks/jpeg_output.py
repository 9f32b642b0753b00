"""JPEG photos written back as JPEG: the original's own compression against a fixed quality 90.

For each JPEG in ../shared/photos, at native resolution: the file's size, then for each way of
writing it (the original's quantisation tables and chroma subsampling, PixelGuard's default
now; quality 90 at 4:4:4, the earlier default) the size and SSIM of
- the photo re-encoded without any protection (what the encoder alone costs), and
- the protected copy (the chosen preset, default Balanced), with its largest change in 8-bit
  levels, PixelGuard's own verdict, and the verdict of judges that share none of its code
  (_common.independent_judges) after an OpenCV upload (1080 px, JPEG q75): the reference lite0
  behind Pillow (label out of the top 5) and lite2, never used to protect (top-1 changed).
SSIM is scikit-image's (not PixelGuard's code) against the decoded original.
Usage: python benchmarks/jpeg_output.py [--preset balanced] [--photos N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _common import independent_judges, markdown_table, real_photos, upload
from skimage.metrics import structural_similarity

from pixelguard import imageio
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from pixelguard.settings import preset_settings

ENCODINGS = {"original's tables": None, "quality 90, 4:4:4": 90}


def ssim(reference, other) -> float:
    return float(structural_similarity(reference, other, channel_axis=-1, data_range=255))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--photos", type=int, default=0, help="only the first N JPEG photos (0: all)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    photos = [p for p in real_photos() if p.suffix.lower() in (".jpg", ".jpeg")][: args.photos or None]
    rows, summary = [], {name: [] for name in ENCODINGS}
    model = None
    judge = independent_judges()
    with tempfile.TemporaryDirectory() as out:
        for name, quality in ENCODINGS.items():
            protector = Protector(preset_settings(args.preset, format="jpeg", jpeg_quality=quality,
                                                  device=args.device), model=model)
            model = protector.model
            for photo in photos:
                source = imageio.load_image(photo)
                plain = imageio.encode_image(source.rgb, source, format="jpeg", jpeg_quality=quality)
                plain_rgb = imageio.decode_image(plain, photo).rgb
                output = Path(out) / name.replace(" ", "_") / f"{photo.stem}.jpg"
                record = next(protect_batch([Job(photo, output)], protector, keep_failed=True))
                written = Path(record.output)
                protected_rgb = imageio.load_image(written).rgb
                uploaded = upload(protected_rgb)
                lite0_truth = int(judge["lite0 pillow"](source.rgb).argmax())
                lite2_truth = int(judge["lite2 pillow"](source.rgb).argmax())
                result = {
                    "plain_kb": len(plain.data) / 1000, "plain_ssim": ssim(source.rgb, plain_rgb),
                    "kb": written.stat().st_size / 1000, "ssim": ssim(source.rgb, protected_rgb),
                    "linf": record.linf, "protected": record.success,
                    "lite0": lite0_truth not in judge["lite0 pillow"](uploaded).topk(5).indices.tolist(),
                    "lite2": int(judge["lite2 pillow"](uploaded).argmax()) != lite2_truth,
                }
                summary[name].append(result)
                rows.append([photo.name, f"{photo.stat().st_size / 1000:.0f}", name,
                             record.extra.get("jpeg_encoding", "-"),
                             f"{result['plain_kb']:.0f}", result["plain_ssim"], f"{result['kb']:.0f}", result["ssim"],
                             record.linf, "yes" if record.success else "NO",
                             "yes" if result["lite0"] else "NO", "yes" if result["lite2"] else "NO"])
    print(markdown_table(["photo", "input KB", "written as", "encoder used", "re-encoded KB", "re-encoded SSIM",
                          "protected KB", "protected SSIM", "largest change", "own verdict",
                          "lite0 upload: gone from top 5", "lite2 upload: top-1 changed"], rows))
    print()
    print(markdown_table(
        ["written as", "re-encoded SSIM (mean)", "protected SSIM (mean)", "protected size / input (mean)",
         "largest change (mean)", "own verdict", "lite0 upload: gone from top 5", "lite2 upload: top-1 changed"],
        [[name, statistics.mean(r["plain_ssim"] for r in results), statistics.mean(r["ssim"] for r in results),
          f"{statistics.mean(r['kb'] * 1000 / p.stat().st_size for r, p in zip(results, photos)):.2f}",
          f"{statistics.mean(r['linf'] for r in results):.1f}",
          f"{sum(r['protected'] for r in results)}/{len(results)}",
          f"{sum(r['lite0'] for r in results)}/{len(results)}",
          f"{sum(r['lite2'] for r in results)}/{len(results)}"] for name, results in summary.items()]))


if __name__ == "__main__":
    main()
