"""Hiding tags: TkMIA vs TkML-AP-U vs the plain colour-variance attack, on the real photos.

The default model serves as a ranker; Y = each photo's clean top k. For k = 3 and 5, hiding
the top-1 tag, then the top-1 and top-2 tags, each method protects every photo (saved as PNG,
read back): share of hidden tags removed, the drop in TkAcc / P@k / mAP@k / NDCG@k (smaller is
better), APer (mean L2 of x' - x over successes, [0,1] units), mean DeltaE00, SSIM, steps.
The colour-variance baseline is cvpire's loss on each hidden tag (summed), run by the same
pipeline until the hidden tags have left the top k.
Usage: python benchmarks/tkmia.py [--side 512] [--max-iter 100] [--photos N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from _common import markdown_table, prepared_photos

from pixelguard import imageio
from pixelguard.attacks import METHODS, AttackPlan, Method, PlanContext
from pixelguard.attacks.cvpire import ColourVarianceObjective
from pixelguard.attacks.objectives import l1_penalty
from pixelguard.attacks.tkmia import tag_plan
from pixelguard.measures import measure_batch
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from pixelguard.settings import preset_settings
from pixelguard.tagging import select_tags, tag_indices


class HiddenTagsColourVariance(Method):
    """-sum over the hidden tags of CE + alpha * L1 (Adam), stopped when they leave the top k."""

    name = "cvpire-topk"
    summary = "colour-variance attack on each hidden tag"

    def plan(self, context: PlanContext) -> AttackPlan:
        k = context.settings.k
        hidden = tag_indices(context.labels, context.settings.hide)
        selection = select_tags(context.labels, context.clean_logits, hidden, k)
        per_tag = [ColourVarianceObjective(label, context.budget_l1, 0.0) for label in selection.to_remove]

        def objective(logits: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
            loss = sum(term(logits, perturbation) for term in per_tag)
            return loss + l1_penalty(perturbation, context.budget_l1, context.settings.l1)

        return tag_plan(context, selection, objective)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", type=int, default=512, help="long side of the downscaled photos (default: 512)")
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--photos", type=int, default=0, help="only the first N photos (0: all)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    METHODS[HiddenTagsColourVariance.name] = HiddenTagsColourVariance()
    rows = []
    model = None
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "in").mkdir()
        photos = prepared_photos(scratch / "in", args.side, args.photos)
        for k in (3, 5):
            for hidden_count in (1, 2):
                for method in ("tkmia", "tkml-ap", HiddenTagsColourVariance.name):
                    protector = Protector(preset_settings("fast", method=method, k=k, format="png", max_iter=args.max_iter,
                                                          device=args.device), model=model)
                    model = protector.model
                    out = scratch / f"{method}-{k}-{hidden_count}"
                    rows.append(run_setting(protector, photos, k, hidden_count, out))
                    print(markdown_table(HEADER, rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(markdown_table(HEADER, rows))
    print(f"\nmodel {protector.settings.model} (a ranker: softmax), device {protector.device}, photos downscaled to "
          f"<= {args.side} px, PNG output, strength {protector.settings.strength:g}, max {args.max_iter} steps")


HEADER = ["k", "hidden", "method", "hidden removed", "photos protected", "TkAcc drop", "P@k drop", "mAP@k drop",
          "NDCG@k drop", "APer (L2)", "mean dE00", "mean SSIM", "mean steps", "mean s"]


def run_setting(protector: Protector, photos: list[Path], k: int, hidden_count: int, out: Path) -> list:
    """Protect every photo hiding its top `hidden_count` tags; one table row."""
    before, after, relevant, hidden, perturbations, records = [], [], [], [], [], []
    for photo in photos:
        original = protector.tensor(imageio.load_image(photo).rgb)
        clean = protector.logits(original)
        top = clean.topk(k).indices.tolist()
        protector.settings.hide = tuple(protector.labels[i] for i in top[:hidden_count])
        record = next(protect_batch([Job(photo, out / photo.name)], protector, keep_failed=True))
        if record.status == "error":
            raise SystemExit(f"{photo.name}: {record.error}")
        saved = protector.tensor(imageio.load_image(record.output).rgb)
        before.append(clean)
        after.append(protector.logits(saved))
        relevant.append(set(top))
        hidden.append(set(top[:hidden_count]))
        perturbations.append(saved - original)
        records.append(record)
    measures = measure_batch(torch.stack(before), torch.stack(after), relevant, hidden, k, perturbations)
    drop = {name: getattr(measures.before, name) - getattr(measures.after, name)
            for name in ("topk_accuracy", "precision", "average_precision", "ndcg")}
    return [
        k, f"top {hidden_count}", protector.settings.method, f"{measures.hidden_removed_share:.0%}",
        f"{sum(r.success for r in records)}/{len(records)}", drop["topk_accuracy"], drop["precision"],
        drop["average_precision"], drop["ndcg"], measures.aper if measures.aper is not None else "-",
        statistics.mean(r.delta_e_mean for r in records), statistics.mean(r.ssim for r in records),
        float(statistics.mean(r.iterations for r in records)), statistics.mean(r.seconds for r in records),
    ]


if __name__ == "__main__":
    main()
