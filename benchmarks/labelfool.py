"""LabelFool target selection and the semantic condition on the real photos.

Targeted runs (the same targeted colour-variance attack, only the target differs):
- labelfool: the LabelFool rule (ALGORITHMS.md 4); labelfool-privacy: only unrelated targets;
- random: a uniformly random other class (seeded); easiest: the clean runner-up.
Untargeted runs: cvpire with --condition top5 vs --condition semantic.
Success is read off the saved PNG. "far" = no top-5 label of the saved file is semantically
related to the removed label; "target related" = the target itself is related to it.
Photos larger than --max-side px are downscaled first (0: native resolution).
Usage: python benchmarks/labelfool.py [--max-iter N] [--photos N] [--max-side PX]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import tempfile
import time
from pathlib import Path

from _common import SHARED, markdown_table, prepared_photos

from pixelguard import imageio
from pixelguard.models.datapacks import seed_cache_from
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from pixelguard.settings import preset_settings
from pixelguard.semantics import relation_for

RUNS = {
    # name: (settings overrides, how to pick the target: None = the method decides)
    "labelfool": ({"method": "labelfool", "condition": "target"}, None),
    "random": ({"method": "labelfool", "condition": "target"}, "random"),
    "easiest": ({"method": "labelfool", "condition": "target"}, "easiest"),
    "labelfool-privacy": ({"method": "labelfool", "privacy_target": True}, None),
    "cvpire top5": ({"condition": "top5"}, None),
    "cvpire semantic": ({"condition": "semantic"}, None),
}



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--photos", type=int, default=0, help="only the first N photos (0: all)")
    parser.add_argument("--max-side", type=int, default=1024, help="downscale larger photos (0: native)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if (SHARED / "data").is_dir():
        seed_cache_from(SHARED / "data")  # the semantic runs need the ImageNet class paths
    chooser = random.Random(0)
    model, per_photo, summary = None, [], []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        photos = prepared_photos(Path(work), args.max_side, args.photos)
        for run, (overrides, pick) in RUNS.items():
            base = preset_settings("fast", format="png", max_iter=args.max_iter, device=args.device, **overrides)
            probe = Protector(base, model=model)
            model = probe.model
            relation = relation_for(model)
            records, far_count = [], 0
            for photo in photos:
                target = None
                if pick is not None:
                    clean = probe.logits(probe.tensor(imageio.load_image(photo).rgb))
                    label = int(clean.argmax())
                    if pick == "easiest":
                        target = model.labels[int(clean.topk(2).indices[1])]
                    else:
                        target = model.labels[chooser.choice([i for i in range(len(model.labels)) if i != label])]
                protector = Protector(dataclasses.replace(base, target=target), model=model)
                output = Path(work) / run.replace(" ", "-") / photo.name
                record = next(protect_batch([Job(photo, output)], protector, keep_failed=True))
                records.append(record)
                far = not any(relation.related(record.label, name) for name, _ in record.after)
                far_count += far
                per_photo.append([photo.name, run, record.label, record.extra.get("target", "-"),
                                  "yes" if record.success else "NO", record.after[0][0], "yes" if far else "no",
                                  record.ssim, record.delta_e_mean, record.iterations, record.seconds])
            targets = [r for r in records if "target" in r.extra]
            related_targets = [relation.related(r.label, r.extra["target"]) for r in targets]
            summary.append([
                run,
                f"{sum(r.success for r in records)}/{len(records)}",
                f"{far_count}/{len(records)}",
                f"{sum(related_targets)}/{len(targets)}" if targets else "-",
                statistics.mean(r.extra["target_distance"] for r in targets) if targets else "-",
                statistics.mean(r.ssim for r in records), min(r.ssim for r in records),
                statistics.mean(r.delta_e_mean for r in records),
                statistics.mean(r.iterations for r in records), statistics.mean(r.seconds for r in records),
            ])
            print(f"{run}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    print(markdown_table(["photo", "run", "label", "target", "success", "new top-1", "top-5 far",
                          "SSIM", "mean dE00", "iterations", "seconds"], per_photo))
    print()
    print(markdown_table(["run", "success", "top-5 far", "target related", "mean target D", "mean SSIM",
                          "min SSIM", "mean dE00", "mean iterations", "mean seconds"], summary))
    print(f"\ndevice: {probe.device}; photos downscaled to <= {args.max_side} px" if args.max_side
          else f"\ndevice: {probe.device}; photos at native resolution", end="")
    print(f"; max {args.max_iter} iterations; saved as PNG")


if __name__ == "__main__":
    main()
