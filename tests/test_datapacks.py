"""Data packs: pinned copies seeded from shared/data, parsed into Python structures, fetched when missing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import statistics

import pytest

from pixelguard.errors import DownloadError, ModelUnavailableError
from pixelguard.models import datapacks
from pixelguard.models.datapacks import (
    DATA_PACKS,
    datapack_path,
    download_datapack,
    ensure_datapack,
    seed_cache_from,
)


@pytest.fixture(autouse=True)
def _cache_only(without_bundled_data):
    """These tests are about the cache and downloads; the shipped copies are tested below."""


def test_shipped_packs_match_their_pins_and_need_no_cache(empty_cache, monkeypatch):
    from pixelguard.models.datapacks import bundled_path

    monkeypatch.undo()  # the shipped copies back
    monkeypatch.setenv("PIXELGUARD_HOME", str(empty_cache))
    for pack in DATA_PACKS.values():
        assert bundled_path(pack.name) is not None, pack.name
        assert ensure_datapack(pack.name) == bundled_path(pack.name)
        assert any((datapacks.BUNDLED_DATA / pack.relative_path).parent.glob("LICENSE-*")), pack.name
    assert not empty_cache.exists()  # nothing was downloaded or copied


def test_pins_match_the_shared_copies(shared_dir):
    for pack in DATA_PACKS.values():
        data = (shared_dir / "data" / pack.relative_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == pack.sha256, pack.name


def test_every_pack_has_a_url_except_the_team_made_hierarchy_csv():
    assert [pack.name for pack in DATA_PACKS.values() if pack.url is None] == ["places365-hierarchy"]
    for pack in DATA_PACKS.values():
        if pack.url:
            assert pack.url.startswith("https://raw.githubusercontent.com/")
            assert pack.url.endswith(pack.filename) or pack.name == "imagenet-class-paths"


def test_seed_skips_copies_that_do_not_match(empty_cache, tmp_path, shared_dir):
    source = tmp_path / "source"
    source.mkdir()
    (source / "IO_places365.txt").write_text("/a/airfield 1\n")  # tampered, flat layout
    good = shared_dir / "data" / "places365" / "categories_places365.txt"
    (source / "categories_places365.txt").write_bytes(good.read_bytes())
    assert seed_cache_from(source) == ["places365-categories"]
    assert datapack_path("places365-categories").read_bytes() == good.read_bytes()
    assert not datapack_path("places365-io").exists()


def test_places365_categories(seeded_cache):
    names = datapacks.places365_categories()
    assert len(names) == 365 == len(set(names))
    assert names[0] == "airfield"
    assert names[52] == "bedroom"
    assert names[-1] == "zen_garden"
    assert {"church/indoor", "church/outdoor", "underwater/ocean_deep"} <= set(names)


def test_places365_indoor_outdoor(seeded_cache):
    kinds = datapacks.places365_indoor_outdoor()
    names = datapacks.places365_categories()
    assert len(kinds) == 365
    assert kinds.count("indoor") == 160 and kinds.count("outdoor") == 205
    assert kinds[names.index("bedroom")] == "indoor"
    assert kinds[names.index("beach")] == "outdoor"


def test_places365_hierarchy(seeded_cache):
    groups = datapacks.places365_hierarchy()
    names = datapacks.places365_categories()
    assert len(groups) == 365
    assert set().union(*(g.level1 for g in groups)) == {"indoor", "outdoor, natural", "outdoor, man-made"}
    assert len(set().union(*(g.level2 for g in groups))) == 16  # ALGORITHMS.md: 16 level-2 groups
    aqueduct = groups[names.index("aqueduct")]
    assert aqueduct.level1 == {"outdoor, natural", "outdoor, man-made"}  # multi-valued
    assert groups[names.index("bedroom")].level2 == {"home or hotel"}
    # Level 1 agrees with IO_places365.txt except for three classes CSAIL labels differently.
    kinds = datapacks.places365_indoor_outdoor()
    disagree = {names[i] for i, (g, k) in enumerate(zip(groups, kinds)) if ("indoor" in g.level1) != (k == "indoor")}
    assert disagree == {"archaelogical_excavation", "bus_station/indoor", "swimming_hole"}
    # ALGORITHMS.md: the semantic neighbourhood (shared level-2 group or same base name) has a median of about 35.
    bases = [name.split("/")[0] for name in names]
    sizes = [
        sum(1 for j in range(365) if j != i and (groups[i].level2 & groups[j].level2 or bases[i] == bases[j]))
        for i in range(365)
    ]
    assert statistics.median(sizes) == 34


def test_sun_attributes(seeded_cache):
    attributes = datapacks.sun_attributes()
    assert len(attributes) == 102
    assert attributes[:3] == ["boating", "driving", "biking"]


def test_imagenet_class_paths(seeded_cache):
    paths = datapacks.imagenet_class_paths()
    assert len(paths) == 1000
    assert all(path[0] == "ImageNet 2011 Fall Release" for path in paths)
    assert paths[0][-1] == "tench, Tinca tinca"
    assert paths[999][-1] == "toilet tissue, toilet paper, bathroom tissue"


def test_imagenet_categories_are_the_wordnet_leaves(seeded_cache):
    """torchvision's short names are synonyms of the WordNet leaf, but for two it disambiguated."""
    names = datapacks.imagenet_categories()
    paths = datapacks.imagenet_class_paths()
    assert len(names) == 1000
    differ = [
        index
        for index, (name, path) in enumerate(zip(names, paths))
        if name.lower() not in [synonym.strip().lower() for synonym in path[-1].split(",")]
    ]
    assert differ == [134, 639]  # 'crane bird' (vs the machine at 517), 'maillot tank suit'
    assert names[134] == "crane bird" and names[517] == "crane"


def _serve_pack(file_server, shared_dir, monkeypatch, name):
    pack = DATA_PACKS[name]
    file_server.files[f"/{pack.filename}"] = (shared_dir / "data" / pack.relative_path).read_bytes()
    monkeypatch.setitem(DATA_PACKS, name, dataclasses.replace(pack, url=file_server.url(f"/{pack.filename}")))
    return pack


def test_missing_pack_is_downloaded_and_verified(empty_cache, file_server, shared_dir, monkeypatch):
    _serve_pack(file_server, shared_dir, monkeypatch, "places365-io")
    path = ensure_datapack("places365-io")
    assert path == datapack_path("places365-io")
    assert datapacks.places365_indoor_outdoor()[0] == "outdoor"
    assert len(file_server.requests) == 1
    ensure_datapack("places365-io")  # cached now: no second request
    assert len(file_server.requests) == 1


def test_pack_served_with_other_bytes_is_refused(empty_cache, file_server, shared_dir, monkeypatch):
    pack = _serve_pack(file_server, shared_dir, monkeypatch, "sun-attributes")
    file_server.files[f"/{pack.filename}"] = b"not the attributes\n"
    with pytest.raises(ModelUnavailableError, match="checksum mismatch"):
        datapacks.sun_attributes()
    assert not datapack_path("sun-attributes").exists()


def test_offline_message_says_what_to_download_and_where(empty_cache, closed_port_url, monkeypatch):
    pack = DATA_PACKS["imagenet-class-paths"]
    monkeypatch.setitem(DATA_PACKS, pack.name, dataclasses.replace(pack, url=closed_port_url))
    with pytest.raises(ModelUnavailableError) as caught:
        datapacks.imagenet_class_paths()
    message = str(caught.value)
    assert "is not downloaded and the download failed" in message
    assert closed_port_url in message and str(datapack_path(pack.name)) in message
    assert "pixelguard models download imagenet-class-paths" in message


def test_pack_without_url_says_where_to_copy_it(empty_cache):
    with pytest.raises(ModelUnavailableError, match=r"has no download URL; copy scene_hierarchy\.csv"):
        datapacks.places365_hierarchy()


def test_cached_pack_with_wrong_bytes_is_not_used_until_downloaded_again(
    seeded_cache, file_server, shared_dir, monkeypatch
):
    path = datapack_path("imagenet-class-paths")
    good = path.read_bytes()
    path.write_text(json.dumps({"0": ["x"]}))
    with pytest.raises(ModelUnavailableError, match="does not match its pinned sha256.*pixelguard models download"):
        datapacks.imagenet_class_paths()
    _serve_pack(file_server, shared_dir, monkeypatch, "imagenet-class-paths")
    assert download_datapack("imagenet-class-paths") == path
    assert path.read_bytes() == good


def test_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch, file_server, shared_dir):
    not_a_folder = tmp_path / "home-is-a-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("PIXELGUARD_HOME", str(not_a_folder))
    _serve_pack(file_server, shared_dir, monkeypatch, "sun-attributes")
    with pytest.raises(DownloadError, match="cannot write"):
        download_datapack("sun-attributes")
