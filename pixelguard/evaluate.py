"""Does a protection hold on classifiers it was not made against, and after an upload?

Pairs original and protected photos by relative path and, per judge model and per upload
transform (as saved, JPEG re-encode, downscale), measures:
- top-1 evasion: the original's top-1 label is not the protected photo's top-1;
- top-5 evasion: it is not in the protected photo's top 5;
- semantic mismatch: none of the protected photo's top-k labels is related to it
  (pixelguard.semantics), where the judge's label set and its data are cached.
The original's top-1 is taken on the untouched original: it stands for the truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from pixelguard import imageio
from pixelguard.errors import InputError
from pixelguard.protect import FAILED_MARK
from pixelguard.semantics import cached_relation_for
from pixelguard.views import Jpeg, Resize

Transform = Callable[[np.ndarray], np.ndarray]


def upload_transforms(jpeg: int | None = None, resize: int | None = None) -> dict[str, Transform]:
    """'saved' (as written) plus 'jpeg<q>' and 'resize<n>' when asked for."""
    transforms: dict[str, Transform] = {"saved": lambda rgb: rgb}
    if jpeg is not None:
        transforms[f"jpeg{jpeg}"] = Jpeg(jpeg).exact
    if resize is not None:
        transforms[f"resize{resize}"] = Resize("long", resize, "lanczos", "pillow").exact
    return transforms


def pair_files(originals: Path, protected: Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(original, protected) pairs by relative path, and the protected files without an original.

    Two files pair directly. In folders a protected file pairs with the original at the same
    relative path, or failing that with the same relative path up to the suffix (--format);
    an unprotected copy kept with --keep-failed (NAME.NOT-PROTECTED.ext) pairs with NAME too,
    so it is judged as well and its name says what PixelGuard's own verdict was.
    """
    originals, protected = Path(originals), Path(protected)
    if originals.is_file() and protected.is_file():
        return [(originals, protected)], []
    for folder in (originals, protected):
        if not folder.is_dir():
            raise InputError(f"{folder}: not a folder (give two folders, or two files)")
    by_path = {path.relative_to(originals): path for path, _ in imageio.iter_images([originals], recursive=True)}
    by_stem = {relative.with_suffix(""): path for relative, path in by_path.items()}
    pairs, unpaired = [], []
    for path, _ in imageio.iter_images([protected], recursive=True):
        relative = path.relative_to(protected)
        stem = relative.with_suffix("")
        stem = stem.with_name(stem.name.removesuffix(f".{FAILED_MARK}"))
        original = by_path.get(relative) or by_stem.get(stem)
        if original is None:
            unpaired.append(path)
        else:
            pairs.append((original, path))
    return pairs, unpaired


@dataclass
class FileResult:
    original: str
    protected: str
    model: str
    transform: str
    original_label: str
    protected_top5: list[str]
    top1_evaded: bool
    top5_evaded: bool
    semantic_mismatch: bool | None


@dataclass
class EvaluationRow:
    """Rates over the pairs for one judge model and one transform (semantic: None if unknown)."""

    model: str
    transform: str
    pairs: int
    top1_evasion: float
    top5_evasion: float
    semantic_mismatch: float | None
    files: list[FileResult] = field(default_factory=list)

    def summary(self) -> dict:
        record = asdict(self)
        record.pop("files")
        return record


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    pairs: list[tuple[Path, Path]],
    transforms: dict[str, Transform],
    *,
    k: int = 5,
    device: torch.device | str = "cpu",
) -> list[EvaluationRow]:
    """One row per transform for this judge model."""
    labels = list(model.labels)
    relation = cached_relation_for(model)  # None when it cannot be had offline
    name = getattr(model, "name", type(model).__name__)

    def logits_of(rgb: np.ndarray) -> torch.Tensor:
        return model(imageio.rgb_to_tensor(rgb).to(device).unsqueeze(0))[0].float().cpu()

    results: dict[str, list[FileResult]] = {transform: [] for transform in transforms}
    for original_path, protected_path in pairs:
        truth = int(logits_of(imageio.load_image(original_path).rgb).argmax())
        protected_rgb = imageio.load_image(protected_path).rgb
        for transform_name, transform in transforms.items():
            logits = logits_of(transform(protected_rgb))
            top = logits.topk(min(max(k, 5), len(labels))).indices.tolist()
            results[transform_name].append(FileResult(
                original=str(original_path), protected=str(protected_path), model=name,
                transform=transform_name, original_label=labels[truth],
                protected_top5=[labels[i] for i in top[:5]],
                top1_evaded=top[0] != truth, top5_evaded=truth not in top[:5],
                semantic_mismatch=None if relation is None else relation.related_in_top_k(logits, truth, k) == 0,
            ))
    return [_row(name, transform, files) for transform, files in results.items()]


def _row(model: str, transform: str, files: list[FileResult]) -> EvaluationRow:
    count = len(files)

    def rate(values: list[bool]) -> float:
        return sum(values) / count if count else 0.0

    semantic = None
    if files and all(f.semantic_mismatch is not None for f in files):
        semantic = rate([f.semantic_mismatch for f in files])
    return EvaluationRow(model, transform, count, rate([f.top1_evaded for f in files]),
                         rate([f.top5_evaded for f in files]), semantic, files)
