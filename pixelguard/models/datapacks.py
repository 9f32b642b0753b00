"""Data packs: small label and hierarchy files, pinned by sha256 and cached like model weights.

Each pack lives at `data_dir() / relative_path`. `ensure_datapack` downloads a missing pack
(loaders use it), `download_datapack` also replaces a corrupt one (`pixelguard models download`),
`seed_cache_from` copies verified copies from a folder laid out the same way (tests and CI use
the shared data folder). The loaders return parsed Python structures.
"""

from __future__ import annotations

import csv
import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from pixelguard.cache import data_dir
from pixelguard.errors import DownloadError, ModelUnavailableError
from pixelguard.models.download import DownloadCancelled, ProgressCallback, download, file_matches

# CSAILVision/places365 at a fixed commit, so the bytes behind each URL cannot change.
PLACES365_REPO_RAW = "https://raw.githubusercontent.com/CSAILVision/places365/8a953ed56438726dc98bdef3796d042e7f1f171e"
HGLTR_REPO_RAW = "https://raw.githubusercontent.com/7d1-z/hgltr/7553154d5ad56fc2e96e61a8d99b034b9b05392f"


@dataclass(frozen=True)
class DataPack:
    name: str
    relative_path: str
    sha256: str
    url: str | None  # None: no upstream copy of these exact bytes exists to download
    licence: str
    source: str

    @property
    def filename(self) -> str:
        return Path(self.relative_path).name


DATA_PACKS = {
    pack.name: pack
    for pack in (
        DataPack(
            "places365-categories",
            "places365/categories_places365.txt",
            "2affba635eb657e7ca95f4e6cc69bd9fac29ef4c32aeb83cafdfcd06ec6a1ea6",
            f"{PLACES365_REPO_RAW}/categories_places365.txt",
            "MIT (CSAILVision/places365)",
            "the 365 Places365 class names in model output order",
        ),
        DataPack(
            "places365-io",
            "places365/IO_places365.txt",
            "0a65ceb7264413a15bb069a87be7ecf9ebb572a6803d48de2827a1d25fe287ba",
            f"{PLACES365_REPO_RAW}/IO_places365.txt",
            "MIT (CSAILVision/places365)",
            "indoor (1) / outdoor (2) for each Places365 class",
        ),
        DataPack(
            "places365-hierarchy",
            "places365/scene_hierarchy.csv",
            "2e27c6718b6e946104acde948fd054f3c60cf4aebc9b776c3d751b6d2bfe5691",
            None,
            "CSAIL Places365 scene hierarchy (see http://places2.csail.mit.edu/download.html)",
            "the PixelGuard team's CSV of CSAIL's 'Scene hierarchy' spreadsheet (levels 1 and 2, "
            "';' between several groups); CSAIL publishes only the spreadsheet",
        ),
        DataPack(
            "sun-attributes",
            "places365/labels_sunattribute.txt",
            "afc7fe63101c8e3caecfe93c7dffc3d2c9736e25c5b69457a7acc8fde84aa3f2",
            f"{PLACES365_REPO_RAW}/labels_sunattribute.txt",
            "MIT (CSAILVision/places365)",
            "the 102 SUN attribute names used by the Places365 unified demo",
        ),
        DataPack(
            "imagenet-class-paths",
            "imagenet/imagenet_class_paths.json",
            "153feccee20e13121826164af0c63ffd4bb10e87f0e2a4d27a4bf7126c315c17",
            f"{HGLTR_REPO_RAW}/doc/hierarchy/imagenet.json",
            "MIT (7d1-z/hgltr)",
            "WordNet path (root -> leaf) of each ImageNet-1k class index",
        ),
    )
}

@dataclass(frozen=True)
class SceneGroups:
    """The level-1 and level-2 groups of one Places365 class (a class may sit in several)."""

    level1: frozenset[str]
    level2: frozenset[str]


def get_datapack(name: str) -> DataPack:
    try:
        return DATA_PACKS[name]
    except KeyError:
        raise ModelUnavailableError(f"unknown data pack '{name}'; known: {', '.join(DATA_PACKS)}") from None


# The packs ship inside the package (pixelguard/resources/data, licences beside them), so the
# semantic condition works offline out of the box; the cache and downloads stay for packs a
# future version does not ship.
BUNDLED_DATA = Path(__file__).resolve().parent.parent / "resources" / "data"


def bundled_path(name: str) -> Path | None:
    """The copy shipped with the package, when it is there and matches its pin."""
    pack = get_datapack(name)
    path = BUNDLED_DATA / pack.relative_path
    return path if file_matches(path, pack.sha256) else None


def datapack_path(name: str) -> Path:
    """Where the pack is (or would be) cached; downloads write here, never into the package."""
    return data_dir() / get_datapack(name).relative_path


def has_datapack(name: str) -> bool:
    """Whether the pack can be read without a download (shipped, or cached)."""
    return bundled_path(name) is not None or datapack_path(name).is_file()


def download_datapack(
    name: str, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
) -> Path:
    """Fetch a pack into the cache, again if the cached copy fails its checksum; raises DownloadError."""
    pack = get_datapack(name)
    path = datapack_path(name)
    if file_matches(path, pack.sha256):
        return path
    if pack.url is None:
        raise ModelUnavailableError(
            f"data pack '{name}' is not in the cache and has no download URL; copy {pack.filename} "
            f"(sha256 {pack.sha256}) to {path}"
        )
    if path.is_file():
        path.unlink()  # it failed its checksum: fetch it again
    return download(pack.url, path, sha256=pack.sha256, progress=progress, cancel=cancel)


def ensure_datapack(
    name: str, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
) -> Path:
    """Path of the shipped or verified cached pack, downloading it when missing; offline, says what
    to fetch and where."""
    shipped = bundled_path(name)
    if shipped is not None:
        return shipped
    pack = get_datapack(name)
    path = datapack_path(name)
    if path.exists() and not file_matches(path, pack.sha256):
        raise ModelUnavailableError(
            f"the cached data pack {path} does not match its pinned sha256 {pack.sha256}; "
            f"run `pixelguard models download {name}` to fetch it again"
        )
    try:
        return download_datapack(name, progress, cancel)  # a verified cached copy returns at once
    except DownloadCancelled:
        raise
    except DownloadError as error:
        raise ModelUnavailableError(
            f"data pack '{name}' is not downloaded and the download failed ({error}); "
            f"download {pack.url} to {path}, or run `pixelguard models download {name}` when online"
        ) from None


def seed_cache_from(directory: Path) -> list[str]:
    """Copy packs found in `directory` (same layout, or flat) into the cache; returns their names.

    Only copies whose sha256 matches the pin are taken; packs already cached are left alone.
    """
    seeded = []
    for pack in DATA_PACKS.values():
        target = data_dir() / pack.relative_path
        if file_matches(target, pack.sha256):
            seeded.append(pack.name)
            continue
        for candidate in (Path(directory) / pack.relative_path, Path(directory) / pack.filename):
            if file_matches(candidate, pack.sha256):
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(target.name + ".part")
                shutil.copyfile(candidate, temporary)
                temporary.replace(target)
                seeded.append(pack.name)
                break
    return seeded


def _read_lines(name: str) -> list[str]:
    text = ensure_datapack(name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _places365_name(path: str) -> str:
    """'/c/church/indoor' -> 'church/indoor' (drop the leading initial-letter folder)."""
    return path.strip("/").split("/", 1)[1]


def places365_categories() -> list[str]:
    """The 365 class names in output order, e.g. 'airfield', 'church/indoor'."""
    names = []
    for expected, line in enumerate(_read_lines("places365-categories")):
        path, index = line.rsplit(maxsplit=1)
        if int(index) != expected:
            raise ModelUnavailableError(f"categories_places365.txt is out of order at line {expected + 1}")
        names.append(_places365_name(path))
    return names


def places365_indoor_outdoor() -> list[str]:
    """'indoor' or 'outdoor' for each Places365 class, in output order."""
    kinds = {"1": "indoor", "2": "outdoor"}
    return [kinds[line.rsplit(maxsplit=1)[1]] for line in _read_lines("places365-io")]


def places365_hierarchy() -> list[SceneGroups]:
    """Level-1 (indoor / outdoor natural / outdoor man-made) and level-2 groups per class."""
    with open(ensure_datapack("places365-hierarchy"), encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    groups = []
    for expected, row in enumerate(rows):
        if int(row["index"]) != expected:
            raise ModelUnavailableError(f"scene_hierarchy.csv is out of order at class {expected}")
        groups.append(
            SceneGroups(
                level1=frozenset(part.strip() for part in row["level1"].split(";")),
                level2=frozenset(part.strip() for part in row["level2"].split(";")),
            )
        )
    return groups


def sun_attributes() -> list[str]:
    """The 102 SUN attribute names."""
    return _read_lines("sun-attributes")


def imagenet_class_paths() -> list[list[str]]:
    """For each ImageNet-1k class index, its WordNet path from the root to the leaf synset."""
    with open(ensure_datapack("imagenet-class-paths"), encoding="utf-8") as stream:
        paths = json.load(stream)
    return [paths[str(index)] for index in range(len(paths))]


def imagenet_categories() -> list[str]:
    """The 1000 short ImageNet class names that ship inside torchvision (no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
