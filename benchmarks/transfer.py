"""Transfer to unseen classifiers and robustness to uploads, on the real photos.

Protects ../shared/photos (downscaled to --side px on the long side, saved as PNG) with several
configurations, then judges each protected set with the models NOT used to protect it, as
saved, after JPEG q75 and after a 1080 px downscale. Only efficientnet-lite0/1/2 work offline:
protection uses lite0 (or lite0+lite1), judges are lite2 (and lite1 where unused).
Usage: python benchmarks/transfer.py [--side 512] [--photos N] [--configs a,b]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from _common import SHARED, markdown_table, prepared_photos

from pixelguard.evaluate import evaluate_model, upload_transforms
from pixelguard.models import load_model
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from pixelguard.settings import preset_settings
from pixelguard.transfer import transfer_preset

BASE = preset_settings("fast", device="cpu", format="png")
CONFIGS = {
    "lite0 cvpire (default)": BASE,
    "lite0 cvpire + relational mask": replace(BASE, relational_mask=True),
    "lite0 kaa": replace(BASE, method="kaa"),
    "lite0 transfer": transfer_preset(BASE),
    "lite0 transfer + eot": replace(transfer_preset(BASE), eot=True),
    "lite0+lite1 transfer": transfer_preset(replace(BASE, model="efficientnet-lite0,efficientnet-lite1")),
}
JUDGES = ("efficientnet-lite1", "efficientnet-lite2")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", type=int, default=512, help="downscale photos to this long side (default 512)")
    parser.add_argument("--photos", type=int, default=0, help="only the first N photos (0: all)")
    parser.add_argument("--configs", default="", help="comma-separated config names (default: all)")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.configs.split(",") if name.strip()] or list(CONFIGS)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        os.environ["PIXELGUARD_HOME"] = str(work / "home")  # semantic data from ../shared, never the user's cache
        from pixelguard.models.datapacks import seed_cache_from

        seed_cache_from(SHARED / "data")
        originals = work / "originals"
        originals.mkdir()
        photos = prepared_photos(originals, args.side, args.photos)
        judges = {name: load_model(name) for name in JUDGES}
        transforms = upload_transforms(jpeg=75, resize=1080)
        white_box, transfer_rows = [], []
        for name in chosen:
            settings = CONFIGS[name]
            protector = Protector(settings)
            out = work / name.replace(" ", "_")
            records = list(protect_batch([Job(p, out / p.name) for p in photos], protector, keep_failed=True))
            done = [r for r in records if r.status in ("protected", "failed")]
            white_box.append([
                name, f"{sum(r.success for r in done)}/{len(done)}",
                f"{sum(r.extra['robust_jpeg75'] for r in done if r.success)}/{sum(r.success for r in done)}",
                f"{sum(r.extra['robust_1080'] for r in done if r.success)}/{sum(r.success for r in done)}",
                statistics.mean(r.ssim for r in done), min(r.ssim for r in done),
                statistics.mean(r.budget_used for r in done), statistics.mean(r.iterations for r in done),
                statistics.mean(r.seconds for r in done),
            ])
            pairs = [(Path(r.input), Path(r.output)) for r in done]
            used = settings.model.split(",")
            for judge_name, judge in judges.items():
                if judge_name in used:
                    continue
                for row in evaluate_model(judge, pairs, transforms):
                    semantic = "n/a" if row.semantic_mismatch is None else f"{row.semantic_mismatch:.0%}"
                    transfer_rows.append([name, judge_name, row.transform, f"{row.top1_evasion:.0%}",
                                          f"{row.top5_evasion:.0%}", semantic])
            print(white_box[-1], *[row for row in transfer_rows if row[0] == name], sep="\n", flush=True)
    print(markdown_table(["protection", "white-box top-5 protected (saved PNG)", "survive JPEG q75",
                          "survive 1080 px", "mean SSIM", "min SSIM", "budget used", "iterations",
                          "seconds/photo"], white_box))
    print()
    print(markdown_table(["protection", "judge (unseen)", "after", "top-1 evasion", "top-5 evasion",
                          "semantic mismatch (top 5)"], transfer_rows))
    print(f"\n{len(photos)} photos, long side <= {args.side} px, CPU ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
