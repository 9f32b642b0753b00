"""Image I/O: formats, orientation, colour modes, metadata policies, safe writes, bad inputs."""

from __future__ import annotations

import builtins
import errno
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import ExifTags, Image, ImageCms, JpegImagePlugin

from pixelguard import imageio
from pixelguard.errors import InputError, PixelGuardError
from pixelguard.imageio import (
    LoadedImage,
    OutputError,
    OutputExistsError,
    encoder_options,
    jpeg_encoding,
    is_lossy,
    iter_images,
    load_image,
    output_path_for,
    resolve_format,
    rgb_to_tensor,
    save_image,
    tensor_to_rgb,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
BASE = ExifTags.Base


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def smooth_rgb(height: int, width: int) -> np.ndarray:
    """Gradients: survive JPEG well enough to compare pixels within a few levels."""
    y, x = np.mgrid[0:height, 0:width]
    channels = [x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 255 // (width + height - 2)]
    return np.stack(channels, axis=2).astype(np.uint8)


def write(path: Path, image: Image.Image, **options) -> Path:
    image.save(path, **options)
    return path


# --- a hand-written EXIF block (TIFF structure, EXIF 2.32 layout) -----------------------------
# Pillow cannot write IFD1 (the embedded thumbnail), so the fixture is built byte by byte.

ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 2, 3, 4, 5, 7


def entry(tag: int, kind: int, value) -> tuple[int, int, int, bytes]:
    if kind == ASCII:
        raw = value.encode() + b"\0"
        return tag, kind, len(raw), raw
    if kind == UNDEFINED:
        return tag, kind, len(value), value
    values = value if isinstance(value, (list, tuple)) else [value]
    if kind == RATIONAL:
        return tag, kind, len(values), b"".join(struct.pack("<LL", *pair) for pair in values)
    return tag, kind, len(values), struct.pack(f"<{len(values)}{'H' if kind == SHORT else 'L'}", *values)


def ifd_size(entries) -> int:
    overflow = sum(len(raw) + len(raw) % 2 for *_, raw in entries if len(raw) > 4)
    return 2 + 12 * len(entries) + 4 + overflow


def ifd_bytes(entries, offset: int, next_offset: int) -> bytes:
    entries = sorted(entries)
    table, overflow = struct.pack("<H", len(entries)), b""
    data_offset = offset + 2 + 12 * len(entries) + 4
    for tag, kind, count, raw in entries:
        if len(raw) <= 4:
            value = raw.ljust(4, b"\0")
        else:
            value = struct.pack("<L", data_offset + len(overflow))
            overflow += raw + b"\0" * (len(raw) % 2)
        table += struct.pack("<HHL", tag, kind, count) + value
    return table + struct.pack("<L", next_offset) + overflow


def exif_block(ifd0, exif_ifd, gps_ifd, thumbnail: bytes) -> bytes:
    ifd0 = ifd0 + [entry(0x8769, LONG, 0), entry(0x8825, LONG, 0)]
    ifd1 = [entry(0x0103, SHORT, 6), entry(0x0201, LONG, 0), entry(0x0202, LONG, len(thumbnail))]
    exif_offset = 8 + ifd_size(ifd0)
    gps_offset = exif_offset + ifd_size(exif_ifd)
    ifd1_offset = gps_offset + ifd_size(gps_ifd)
    thumbnail_offset = ifd1_offset + ifd_size(ifd1)
    ifd0 = ifd0[:-2] + [entry(0x8769, LONG, exif_offset), entry(0x8825, LONG, gps_offset)]
    ifd1 = ifd1[:1] + [entry(0x0201, LONG, thumbnail_offset), ifd1[2]]
    tiff = (
        b"II*\0" + struct.pack("<L", 8)
        + ifd_bytes(ifd0, 8, ifd1_offset)
        + ifd_bytes(exif_ifd, exif_offset, 0)
        + ifd_bytes(gps_ifd, gps_offset, 0)
        + ifd_bytes(ifd1, ifd1_offset, 0)
        + thumbnail
    )
    return b"Exif\0\0" + tiff


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment before the image data (JPEG, ITU T.81 B.1.1)."""
    assert data[:2] == b"\xff\xd8"
    segments, position = [], 2
    while True:
        marker = data[position + 1]
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        segments.append((marker, data[position + 4 : position + 2 + length]))
        if marker == 0xDA:  # start of scan
            return segments
        position += 2 + length


THUMBNAIL = io.BytesIO()
Image.new("RGB", (8, 8), (255, 0, 0)).save(THUMBNAIL, "JPEG")
THUMBNAIL = THUMBNAIL.getvalue()
MAKER_NOTE = b"ACME\0PREVIEW-OF-THE-UNPROTECTED-PHOTO"
IDENTIFYING = [b"SN-0042-SECRET", b"LENS-SN-77", b"Jane Photographer", b"(c) Jane Photographer", b"Jane Owner"]


@pytest.fixture
def camera_jpeg(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 48x32 stored JPEG with orientation 6, GPS, serials, names, maker note, thumbnail,
    ICC, XMP, IPTC and a comment; returns its path and the upright pixels expected (32x48)."""
    stored = smooth_rgb(32, 48)
    ifd0 = [
        entry(BASE.Make, ASCII, "ACME"),
        entry(BASE.Model, ASCII, "Snap 9"),
        entry(BASE.Orientation, SHORT, 6),
        entry(BASE.DateTime, ASCII, "2024:05:06 07:08:09"),
        entry(BASE.Artist, ASCII, "Jane Photographer"),
        entry(BASE.Copyright, ASCII, "(c) Jane Photographer"),
    ]
    exif_ifd = [
        entry(BASE.ExposureTime, RATIONAL, [(1, 250)]),
        entry(BASE.FNumber, RATIONAL, [(28, 10)]),
        entry(BASE.ISOSpeedRatings, SHORT, 200),
        entry(BASE.DateTimeOriginal, ASCII, "2024:05:06 07:08:09"),
        entry(BASE.MakerNote, UNDEFINED, MAKER_NOTE),
        entry(BASE.ExifImageWidth, LONG, 48),
        entry(BASE.ExifImageHeight, LONG, 32),
        entry(BASE.CameraOwnerName, ASCII, "Jane Owner"),
        entry(BASE.BodySerialNumber, ASCII, "SN-0042-SECRET"),
        entry(BASE.LensSerialNumber, ASCII, "LENS-SN-77"),
    ]
    gps_ifd = [
        entry(ExifTags.GPS.GPSLatitudeRef, ASCII, "N"),
        entry(ExifTags.GPS.GPSLatitude, RATIONAL, [(52, 1), (22, 1), (1234, 100)]),
        entry(ExifTags.GPS.GPSLongitudeRef, ASCII, "E"),
        entry(ExifTags.GPS.GPSLongitude, RATIONAL, [(4, 1), (53, 1), (5678, 100)]),
    ]
    buffer = io.BytesIO()
    Image.fromarray(stored).save(
        buffer, "JPEG", quality=95, subsampling=0, dpi=(300, 300), icc_profile=SRGB_PROFILE,
        exif=exif_block(ifd0, exif_ifd, gps_ifd, THUMBNAIL),
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>Jane Photographer</dc:creator></x:xmpmeta>',
        comment=b"taken at Jane Owner's house",
    )
    data = buffer.getvalue()
    iptc = b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0\0\0\0\x10" + b"\x1c\x02\x50\0\x0cJane Owner!!"
    path = tmp_path / "camera.jpg"
    path.write_bytes(data[:2] + b"\xff\xed" + struct.pack(">H", len(iptc) + 2) + iptc + data[2:])
    return path, np.rot90(stored, -1)


def test_camera_fixture_holds_everything_the_policies_act_on(camera_jpeg):
    path, _ = camera_jpeg
    with Image.open(path) as image:
        exif = image.getexif()
        assert exif[BASE.Orientation] == 6 and exif[BASE.Artist] == "Jane Photographer"
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
        assert exif.get_ifd(ExifTags.IFD.IFD1)[0x0202] == len(THUMBNAIL)
        assert exif.get_ifd(ExifTags.IFD.Exif)[BASE.BodySerialNumber] == "SN-0042-SECRET"
        assert image.info["icc_profile"] == SRGB_PROFILE and "xmp" in image.info
    markers = [marker for marker, _ in jpeg_segments(path.read_bytes())]
    assert 0xED in markers and 0xFE in markers  # IPTC and comment
    assert THUMBNAIL in path.read_bytes() and MAKER_NOTE in path.read_bytes()


def test_camera_jpeg_loads_upright_with_original_exif(camera_jpeg):
    path, upright = camera_jpeg
    loaded = load_image(path)
    assert loaded.format == "JPEG" and loaded.size == (32, 48) and loaded.orientation == 6
    assert np.abs(loaded.rgb.astype(int) - upright).max() <= 6
    assert loaded.exif[BASE.Orientation] == 6 and loaded.icc_profile == SRGB_PROFILE
    assert loaded.dpi == (300.0, 300.0)
    assert any("orientation 6" in note for note in loaded.notes)


def read_back(path: Path) -> tuple[bytes, Image.Exif, Image.Image]:
    image = Image.open(path)
    return path.read_bytes(), image.getexif(), image


def assert_never_written(data: bytes, exif: Image.Exif, image: Image.Image) -> None:
    """What no policy may carry: rotation, thumbnail, maker note, XMP, IPTC, comments."""
    assert exif.get(BASE.Orientation, 1) == 1
    assert not exif.get_ifd(ExifTags.IFD.IFD1) and THUMBNAIL not in data
    assert MAKER_NOTE not in data
    markers = [marker for marker, _ in jpeg_segments(data)]
    assert 0xED not in markers and 0xFE not in markers and b"adobe:ns:meta" not in data
    assert image.info["icc_profile"] == SRGB_PROFILE and image.info["dpi"] == (300, 300)
    assert image.size == (32, 48)


def test_strip_policy_keeps_only_icc_profile_and_dpi(camera_jpeg, tmp_path):
    path, upright = camera_jpeg
    out = save_image(tmp_path / "out" / "strip.jpg", upright, load_image(path), metadata="strip")
    data, exif, image = read_back(out)
    assert_never_written(data, exif, image)
    assert len(exif) == 0 and b"Exif\0\0" not in data
    for text in IDENTIFYING + [b"ACME", b"2024:05:06"]:
        assert text not in data


def test_keep_safe_policy_keeps_capture_details_but_nothing_identifying(camera_jpeg, tmp_path):
    path, upright = camera_jpeg
    out = save_image(tmp_path / "safe.jpg", upright, load_image(path), metadata="keep-safe")
    data, exif, image = read_back(out)
    assert_never_written(data, exif, image)
    assert (exif[BASE.Make], exif[BASE.Model]) == ("ACME", "Snap 9")
    assert exif[BASE.DateTime] == "2024:05:06 07:08:09"
    details = exif.get_ifd(ExifTags.IFD.Exif)
    assert details[BASE.DateTimeOriginal] == "2024:05:06 07:08:09"
    assert float(details[BASE.ExposureTime]) == 1 / 250 and float(details[BASE.FNumber]) == 2.8
    assert details[BASE.ISOSpeedRatings] == 200
    assert not exif.get_ifd(ExifTags.IFD.GPSInfo) and BASE.Artist not in exif
    for text in IDENTIFYING:
        assert text not in data


def test_keep_policy_keeps_all_exif_but_orientation_thumbnail_and_maker_note(camera_jpeg, tmp_path):
    path, upright = camera_jpeg
    out = save_image(tmp_path / "keep.jpg", upright, load_image(path), metadata="keep")
    data, exif, image = read_back(out)
    assert_never_written(data, exif, image)
    assert exif[BASE.Orientation] == 1 and exif[BASE.Artist] == "Jane Photographer"
    assert exif[BASE.Copyright] == "(c) Jane Photographer"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert gps[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert [float(value) for value in gps[ExifTags.GPS.GPSLongitude]] == [4.0, 53.0, 56.78]
    details = exif.get_ifd(ExifTags.IFD.Exif)
    assert details[BASE.BodySerialNumber] == "SN-0042-SECRET" and BASE.MakerNote not in details
    assert (details[BASE.ExifImageWidth], details[BASE.ExifImageHeight]) == (32, 48)


@pytest.mark.parametrize("writer", ["png", "webp", "tiff"])
@pytest.mark.parametrize("metadata", ["strip", "keep-safe", "keep"])
def test_metadata_policies_in_other_formats(camera_jpeg, tmp_path, writer, metadata):
    path, upright = camera_jpeg
    out = save_image(tmp_path / f"out.{writer}", upright, load_image(path), format=writer, metadata=metadata)
    with Image.open(out) as image:
        exif = image.getexif()
        assert image.info.get("icc_profile") == SRGB_PROFILE
        assert exif.get(BASE.Orientation, 1) == 1
        assert bool(exif.get_ifd(ExifTags.IFD.GPSInfo)) == (metadata == "keep")
        assert (exif.get(BASE.Model) == "Snap 9") == (metadata != "strip")
        assert (BASE.Artist in exif) == (metadata == "keep")
        image.load()
        assert np.array_equal(np.asarray(image.convert("RGB")), upright)
    assert MAKER_NOTE not in out.read_bytes() and THUMBNAIL not in out.read_bytes()


def test_bmp_output_notes_that_it_cannot_hold_profile_or_exif(camera_jpeg, tmp_path):
    path, upright = camera_jpeg
    notes: list[str] = []
    source = load_image(path)
    out = save_image(tmp_path / "out.bmp", upright, source, format="bmp", metadata="keep", notes=notes)
    assert any("BMP" in note for note in notes)
    assert np.array_equal(load_image(out).rgb, upright)


# --- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "writer, pillow_format, suffix",
    [("png", "PNG", ".png"), ("tiff", "TIFF", ".tif"), ("bmp", "BMP", ".bmp"), ("webp", "WEBP", ".webp")],
)
def test_lossless_formats_round_trip_exactly(tmp_path, writer, pillow_format, suffix):
    original = random_rgb(13, 17)
    source = load_image(write(tmp_path / "in.png", Image.fromarray(original)))
    perturbed = random_rgb(13, 17, seed=1)
    out = save_image(tmp_path / f"out{suffix}", perturbed, source, format=writer)
    again = load_image(out)
    assert again.format == pillow_format and again.size == (17, 13)
    assert np.array_equal(again.rgb, perturbed)


def test_jpeg_is_written_at_the_given_quality_with_full_colour_resolution(tmp_path):
    picture = smooth_rgb(40, 56)
    source = load_image(write(tmp_path / "in.png", Image.fromarray(picture)))
    out = save_image(tmp_path / "out.jpg", picture, source, format="jpeg", jpeg_quality=90)
    with Image.open(out) as image:
        assert JpegImagePlugin.get_sampling(image) == 0  # 4:4:4
        # IJG quality scaling (jcparam.c): quality 90 -> scale 20 % of the standard Annex K table.
        annex_k_luma = np.array([
            16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
            14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
            18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
        ])
        expected = np.clip((annex_k_luma * 20 + 50) // 100, 1, 255)
        assert np.array_equal(np.array(image.quantization[0]), expected)
    again = load_image(out)
    assert again.size == (56, 40) and np.abs(again.rgb.astype(int) - picture).mean() < 2


@pytest.mark.parametrize("quality", [75, 90])
def test_encoder_options_predict_the_saved_pixels(tmp_path, camera_jpeg, quality):
    """The protect step simulates the output encoder in memory; the file must decode the same."""
    path, upright = camera_jpeg
    buffer = io.BytesIO()
    Image.fromarray(upright).save(buffer, **encoder_options("jpeg", quality))
    in_memory = np.asarray(Image.open(buffer).convert("RGB"))
    out = save_image(tmp_path / "out.jpg", upright, load_image(path), jpeg_quality=quality, metadata="keep")
    assert np.array_equal(load_image(out).rgb, in_memory)


@pytest.mark.parametrize("subsampling", [0, 2])
def test_a_jpeg_is_written_back_with_its_own_tables_and_subsampling(tmp_path, subsampling):
    """The default keeps the original's compression (quantisation tables, chroma subsampling)."""
    rng = np.random.default_rng(3)
    original = tmp_path / "camera.jpg"
    Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(original, quality=72,
                                                                            subsampling=subsampling)
    source = load_image(original)
    with Image.open(original) as reference:
        tables = {index: list(table) for index, table in reference.quantization.items()}
    assert source.jpeg_compression.subsampling == subsampling
    assert source.jpeg_compression.quality_estimate == 72
    assert jpeg_encoding(None, source.jpeg_compression) == (
        f"the original's JPEG tables (about quality 72, {'4:4:4' if subsampling == 0 else '4:2:0'})")
    kept = save_image(tmp_path / "kept.jpg", source.rgb, source)
    with Image.open(kept) as written:
        assert {index: list(table) for index, table in written.quantization.items()} == tables
        assert JpegImagePlugin.get_sampling(written) == subsampling
    # A chosen quality is that quality at 4:4:4; a photo that was no JPEG gets the default.
    chosen = save_image(tmp_path / "q90.jpg", source.rgb, source, jpeg_quality=90)
    with Image.open(chosen) as written:
        assert JpegImagePlugin.get_sampling(written) == 0 and written.quantization != reference.quantization
    assert jpeg_encoding(90, source.jpeg_compression) == "quality 90, 4:4:4"
    png = write(tmp_path / "a.png", Image.fromarray(source.rgb))
    assert load_image(png).jpeg_compression is None and jpeg_encoding(None, None) == "quality 90, 4:4:4"
    # What the protect step simulates in memory is what the file decodes to.
    buffer = io.BytesIO()
    Image.fromarray(source.rgb).save(buffer, **encoder_options("jpeg", None, source.jpeg_compression))
    assert np.array_equal(np.asarray(Image.open(buffer).convert("RGB")), load_image(kept).rgb)


def test_resolve_format_and_lossiness(tmp_path):
    gif = tmp_path / "a.gif"
    Image.new("RGB", (4, 4)).save(gif)
    jpeg = write(tmp_path / "a.jpg", Image.new("RGB", (4, 4)))
    assert resolve_format("keep", load_image(gif)) == "png"
    assert resolve_format("keep", load_image(jpeg)) == "jpeg"
    assert resolve_format("JPG", load_image(gif)) == "jpeg"
    assert resolve_format("tif", load_image(gif)) == "tiff"
    assert [is_lossy(name) for name in ("jpeg", "png", "webp", "tiff", "bmp")] == [True] + [False] * 4
    with pytest.raises(PixelGuardError, match="unknown output format"):
        resolve_format("heic", load_image(jpeg))
    with pytest.raises(ValueError):
        encoder_options("keep")


def test_high_entropy_jpeg_at_quality_100_is_written(tmp_path):
    """Larger than one byte per pixel: beyond what Pillow's optimiser buffer holds."""
    noise = random_rgb(64, 64)
    source = load_image(write(tmp_path / "in.png", Image.fromarray(noise)))
    out = save_image(tmp_path / "out.jpg", noise, source, format="jpeg", jpeg_quality=100)
    assert out.stat().st_size > 64 * 64 and load_image(out).size == (64, 64)


def test_keep_format_writes_the_input_format(tmp_path):
    picture = random_rgb(8, 8)
    for suffix, pillow_format in [(".tif", "TIFF"), (".bmp", "BMP"), (".webp", "WEBP"), (".jpg", "JPEG")]:
        options = {"lossless": True} if suffix == ".webp" else {}
        source = load_image(write(tmp_path / f"in{suffix}", Image.fromarray(picture), **options))
        out = save_image(output_path_for(source.path, tmp_path / "out"), picture, source)
        assert out.name == f"in{suffix}"
        with Image.open(out) as image:
            assert image.format == pillow_format


def test_mpo_camera_jpeg_is_kept_as_jpeg(tmp_path):
    path = tmp_path / "phone.jpg"
    Image.new("RGB", (8, 8), "red").save(path, "MPO", save_all=True, append_images=[Image.new("RGB", (8, 8))])
    source = load_image(path)
    assert source.format == "MPO" and not source.notes
    out = save_image(tmp_path / "out.jpg", source.rgb, source)
    with Image.open(out) as image:
        assert image.format == "JPEG"


def test_gif_is_written_as_png_with_a_note(tmp_path):
    frames = [Image.new("RGB", (6, 4), colour) for colour in ("red", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    source = load_image(path)
    assert source.format == "GIF" and np.array_equal(source.rgb[0, 0], [255, 0, 0])
    assert any("first one" in note for note in source.notes)
    target = output_path_for(path, tmp_path / "out")
    assert target.name == "anim.png"
    notes: list[str] = []
    save_image(target, source.rgb, source, notes=notes)
    assert any("saved as PNG" in note for note in notes)
    with Image.open(target) as image:
        assert image.format == "PNG"


def test_output_path_for_keeps_names_and_folder_structure(tmp_path):
    photos = tmp_path / "photos"
    nested = photos / "2024" / "beach" / "IMG_1.JPG"
    assert output_path_for(nested, "out") == Path("out/IMG_1.JPG")
    assert output_path_for(nested, "out", "jpeg") == Path("out/IMG_1.JPG")
    assert output_path_for(nested, "out", "png", relative_to=photos) == Path("out/2024/beach/IMG_1.png")
    assert output_path_for("a/b.tar.tiff", "out", "keep") == Path("out/b.tar.tiff")
    assert output_path_for("a/b.tiff", "out", "tiff") == Path("out/b.tiff")
    assert output_path_for("a/b.png", "out", "webp") == Path("out/b.webp")
    assert output_path_for("a/b.heic", "out") == Path("out/b.png")
    assert output_path_for("a/b.HEIF", "out", "jpeg") == Path("out/b.jpg")
    with pytest.raises(PixelGuardError, match="unknown output format"):
        output_path_for("a/b.png", "out", "gif")


# --- orientation ------------------------------------------------------------------------------

# Where EXIF orientation n puts the stored pixels on screen (EXIF 2.32, table for tag 0x0112),
# written with NumPy so it does not share code with Pillow's exif_transpose.
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp"])
def test_exif_orientation_is_applied_to_the_pixels(tmp_path, orientation, suffix):
    stored = random_rgb(2, 3, seed=orientation)  # every pixel different: any wrong turn shows
    exif = Image.Exif()
    exif[BASE.Orientation] = orientation
    options = {"lossless": True} if suffix == ".webp" else {}
    path = write(tmp_path / f"o{suffix}", Image.fromarray(stored), exif=exif.tobytes(), **options)
    loaded = load_image(path)
    assert loaded.orientation == orientation
    assert np.array_equal(loaded.rgb, UPRIGHT[orientation](stored))
    assert loaded.size == (loaded.rgb.shape[1], loaded.rgb.shape[0])


def test_jpeg_orientation_8_swaps_dpi_and_size(tmp_path):
    stored = np.zeros((32, 48, 3), np.uint8)
    stored[:16, :16] = 255  # a white block in the stored top-left corner
    exif = Image.Exif()
    exif[BASE.Orientation] = 8
    path = write(tmp_path / "o.jpg", Image.fromarray(stored), exif=exif.tobytes(), dpi=(100, 200), quality=95)
    loaded = load_image(path)
    assert loaded.size == (32, 48) and loaded.dpi == (200.0, 100.0)
    assert loaded.rgb[40, 8].min() > 200 and loaded.rgb[8, 8].max() < 50  # now bottom-left


# --- colour modes -----------------------------------------------------------------------------


def test_greyscale_is_processed_and_saved_as_rgb(tmp_path):
    grey = np.random.default_rng(0).integers(0, 256, (5, 7), dtype=np.uint8)
    loaded = load_image(write(tmp_path / "g.png", Image.fromarray(grey, "L")))
    assert loaded.mode == "L" and loaded.alpha is None
    assert np.array_equal(loaded.rgb, np.repeat(grey[:, :, None], 3, axis=2))
    assert any("greyscale" in note for note in loaded.notes)
    out = save_image(tmp_path / "out.png", loaded.rgb, loaded)
    with Image.open(out) as image:
        assert image.mode == "RGB"


def test_one_bit_image(tmp_path):
    bits = np.random.default_rng(0).integers(0, 2, (6, 9)).astype(bool)
    loaded = load_image(write(tmp_path / "b.png", Image.fromarray(bits)))
    assert loaded.mode == "1"
    assert np.array_equal(loaded.rgb, np.repeat(bits[:, :, None] * 255, 3, axis=2).astype(np.uint8))


def test_palette_image_becomes_rgb_and_transparency_becomes_alpha(tmp_path):
    palette = np.random.default_rng(0).integers(0, 256, (256, 3), dtype=np.uint8)
    indices = np.random.default_rng(1).integers(0, 4, (5, 6), dtype=np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.tobytes())
    opaque = load_image(write(tmp_path / "p.png", image))
    assert opaque.alpha is None and np.array_equal(opaque.rgb, palette[indices])
    assert any("palette" in note for note in opaque.notes)
    see_through = load_image(write(tmp_path / "pt.png", image, transparency=2))
    assert np.array_equal(see_through.alpha, np.where(indices == 2, 0, 255))
    assert np.array_equal(see_through.rgb, palette[indices])


def test_cmyk_becomes_rgb_and_a_cmyk_profile_is_not_carried(tmp_path):
    cmyk = np.random.default_rng(0).integers(0, 256, (4, 5, 4), dtype=np.uint8)
    fake_cmyk_profile = bytes(16) + b"CMYK" + bytes(108)
    path = write(tmp_path / "c.tif", Image.fromarray(cmyk, "CMYK"), icc_profile=fake_cmyk_profile)
    loaded = load_image(path)
    # Naive conversion without a profile: R = (255 - C)(255 - K) / 255, likewise G and B.
    expected = (255 - cmyk[:, :, :3].astype(int)) * (255 - cmyk[:, :, 3:].astype(int)) / 255
    assert loaded.mode == "CMYK" and np.abs(loaded.rgb - expected).max() <= 1
    assert loaded.icc_profile is None
    assert any("CMYK image converted" in note for note in loaded.notes)
    assert any("CMYK colour profile" in note for note in loaded.notes)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_file(header: bytes, compressed_rows: bytes) -> bytes:
    chunks = [png_chunk(b"IHDR", header), png_chunk(b"IDAT", compressed_rows), png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def sixteen_bit_png(levels: np.ndarray) -> bytes:
    """PNG writer for 16-bit samples (greyscale HxW or RGB HxWx3), as in the PNG spec."""
    height, width = levels.shape[:2]
    colour_type = 2 if levels.ndim == 3 else 0
    rows = levels.astype(">u2").reshape(height, -1)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    return png_file(struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0), zlib.compress(raw))


def test_sixteen_bit_greyscale_is_scaled_to_eight_bits_with_a_note(tmp_path):
    levels = np.array([[0, 128, 129, 386], [640, 643, 32896, 65535]], dtype=np.uint16)
    path = tmp_path / "g16.png"
    path.write_bytes(sixteen_bit_png(levels))
    loaded = load_image(path)
    expected = np.rint(levels / 257).astype(np.uint8)
    assert np.array_equal(loaded.rgb, np.repeat(expected[:, :, None], 3, axis=2))
    assert any("16-bit" in note for note in loaded.notes)


def test_sixteen_bit_rgb_is_reduced_to_eight_bits_with_a_note(tmp_path):
    levels = np.random.default_rng(0).integers(0, 65536, (3, 4, 3)).astype(np.uint16)
    path = tmp_path / "rgb16.png"
    path.write_bytes(sixteen_bit_png(levels))
    loaded = load_image(path)
    assert np.abs(loaded.rgb - levels / 257).max() <= 1
    assert any("16-bit" in note for note in loaded.notes)


def test_unsupported_pixel_format_is_an_input_error(tmp_path):
    path = write(tmp_path / "f.tif", Image.fromarray(np.ones((3, 3), np.float32)))
    with pytest.raises(InputError, match="unsupported pixel format"):
        load_image(path)


@pytest.mark.parametrize("writer", ["png", "webp", "tiff"])
def test_alpha_is_carried_through_untouched(tmp_path, writer):
    rgba = random_rgb(6, 7)
    alpha = np.random.default_rng(5).integers(0, 256, (6, 7), dtype=np.uint8)
    alpha[0, :] = 0  # fully transparent pixels must keep their RGB too
    path = write(tmp_path / "a.png", Image.fromarray(np.dstack([rgba, alpha]), "RGBA"))
    source = load_image(path)
    assert np.array_equal(source.alpha, alpha) and np.array_equal(source.rgb, rgba)
    perturbed = random_rgb(6, 7, seed=9)
    again = load_image(save_image(tmp_path / f"out.{writer}", perturbed, source, format=writer))
    assert np.array_equal(again.alpha, alpha) and np.array_equal(again.rgb, perturbed)


def test_greyscale_with_alpha(tmp_path):
    grey_alpha = np.random.default_rng(0).integers(0, 256, (4, 5, 2), dtype=np.uint8)
    loaded = load_image(write(tmp_path / "la.png", Image.fromarray(grey_alpha, "LA")))
    assert np.array_equal(loaded.alpha, grey_alpha[:, :, 1])
    assert np.array_equal(loaded.rgb, np.repeat(grey_alpha[:, :, :1], 3, axis=2))


@pytest.mark.parametrize("writer", ["jpeg", "bmp"])
def test_formats_without_transparency_drop_alpha_with_a_note(tmp_path, writer):
    source = load_image(write(tmp_path / "a.png", Image.new("RGBA", (4, 4), (10, 20, 30, 40))))
    notes: list[str] = []
    out = save_image(tmp_path / f"a.{writer}", source.rgb, source, format=writer, notes=notes)
    assert any("alpha" in note for note in notes) and load_image(out).alpha is None


# --- tensors ----------------------------------------------------------------------------------


def test_tensor_round_trip_is_exact_for_every_level():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    tensor = rgb_to_tensor(levels)
    assert tensor.shape == (3, 16, 16) and tensor.dtype == torch.float32
    assert float(tensor.min()) == 0.0 and float(tensor.max()) == 1.0
    assert np.array_equal(tensor_to_rgb(tensor), levels)
    assert np.array_equal(tensor_to_rgb(tensor[None]), levels)


def test_tensor_to_rgb_rounds_and_clamps():
    values = torch.tensor([-0.5, 0.0, 0.4 / 255, 0.6 / 255, 254.49 / 255, 1.0, 3.0])
    tensor = values.view(1, 1, 7).repeat(3, 1, 1)
    assert tensor_to_rgb(tensor)[0, :, 0].tolist() == [0, 0, 0, 1, 254, 255, 255]
    with pytest.raises(ValueError):
        tensor_to_rgb(torch.zeros(2, 3, 4, 4))


# --- safe writing -----------------------------------------------------------------------------


@pytest.fixture
def png_source(tmp_path) -> LoadedImage:
    return load_image(write(tmp_path / "in.png", Image.fromarray(random_rgb(5, 5))))


def test_refuses_to_write_over_the_input_even_with_overwrite(tmp_path, png_source):
    before = png_source.path.read_bytes()
    aliases = [png_source.path, tmp_path / "." / "in.png", tmp_path / "link.png", tmp_path / "hard.png"]
    (tmp_path / "link.png").symlink_to(png_source.path)
    os.link(png_source.path, tmp_path / "hard.png")
    for alias in aliases:
        with pytest.raises(OutputError, match="input file"):
            save_image(alias, random_rgb(5, 5, seed=3), png_source, overwrite=True)
    assert png_source.path.read_bytes() == before
    png_source.path.unlink()  # even once the input is gone, its name is not reused
    with pytest.raises(OutputError, match="input file"):
        save_image(png_source.path, random_rgb(5, 5, seed=3), png_source)


def test_existing_output_needs_overwrite(tmp_path, png_source):
    target = tmp_path / "out.png"
    target.write_bytes(b"earlier output")
    with pytest.raises(OutputExistsError, match="already exists"):
        save_image(target, png_source.rgb, png_source)
    assert target.read_bytes() == b"earlier output"
    save_image(target, png_source.rgb, png_source, overwrite=True)
    assert np.array_equal(load_image(target).rgb, png_source.rgb)


def test_creates_missing_folders(tmp_path, png_source):
    target = tmp_path / "a" / "b" / "c" / "out.png"
    assert save_image(target, png_source.rgb, png_source) == target and target.is_file()


def test_failed_write_leaves_no_temp_file_and_keeps_the_earlier_output(tmp_path, png_source, monkeypatch):
    target = tmp_path / "out" / "x.png"
    target.parent.mkdir()
    target.write_bytes(b"earlier output")

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OutputError, match="No space left"):
        save_image(target, png_source.rgb, png_source, overwrite=True)
    monkeypatch.undo()
    assert [path.name for path in target.parent.iterdir()] == ["x.png"]
    assert target.read_bytes() == b"earlier output"


def test_successful_write_leaves_no_temp_file(tmp_path, png_source):
    save_image(tmp_path / "out" / "x.webp", png_source.rgb, png_source, format="webp")
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["x.webp"]


def test_bad_options_and_arrays(tmp_path, png_source):
    with pytest.raises(PixelGuardError, match="metadata policy"):
        save_image(tmp_path / "x.png", png_source.rgb, png_source, metadata="gps-only")
    with pytest.raises(ValueError):
        save_image(tmp_path / "x.png", png_source.rgb.astype(np.float32), png_source)
    with pytest.raises(OutputError, match="folder"):
        save_image(tmp_path, png_source.rgb, png_source)


# --- bad inputs -------------------------------------------------------------------------------


def assert_input_error(path: Path, pattern: str, **options) -> None:
    with pytest.raises(InputError, match=pattern) as caught:
        load_image(path, **options)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))


def test_missing_folder_empty_and_non_image_inputs(tmp_path):
    assert_input_error(tmp_path / "nope.jpg", "no such file")
    assert_input_error(tmp_path, "is a folder")
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert_input_error(tmp_path / "empty.jpg", "empty file")
    (tmp_path / "notes.jpg").write_text("shopping list: eggs, milk")
    assert_input_error(tmp_path / "notes.jpg", "not an image")


def test_formats_outside_the_list_are_not_opened(tmp_path):
    path = write(tmp_path / "x.ppm", Image.new("RGB", (4, 4)))
    assert_input_error(path, "not an image")


def test_heic_without_plugin_says_what_to_install(tmp_path):
    if imageio.HEIC_SUPPORTED:
        pytest.skip("pillow-heif is installed")
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64))
    assert_input_error(path, r"pip install pixelguard\[heic\]")


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_truncated_files(tmp_path, suffix):
    whole = write(tmp_path / f"whole{suffix}", Image.fromarray(random_rgb(64, 64))).read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(whole[: len(whole) // 2])
    assert_input_error(path, "truncated or damaged|damaged or unreadable")


def test_damaged_header(tmp_path):
    whole = write(tmp_path / "whole.png", Image.fromarray(random_rgb(8, 8))).read_bytes()
    path = tmp_path / "bad.png"
    path.write_bytes(whole[:16] + b"\xff" * 20 + whole[36:])
    assert_input_error(path, "damaged|truncated")


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path / "locked.png", Image.new("RGB", (4, 4)))
    if os.geteuid() == 0:  # root reads anything: simulate the refusal
        real_open = builtins.open

        def refusing_open(file, *args, **kwargs):
            if Path(file) == path:
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", refusing_open)
    else:
        path.chmod(0)
    try:
        assert_input_error(path, "permission denied")
    finally:
        path.chmod(0o644)


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge image, followed by almost no data."""
    return png_file(struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0), zlib.compress(b"\0" * 64))


@pytest.mark.parametrize("width, height", [(30000, 30000), (20000, 15000)])
def test_decompression_bombs_are_refused(tmp_path, width, height):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(width, height))
    assert_input_error(path, "too large")


def test_pixel_limit_is_configurable(tmp_path):
    path = write(tmp_path / "x.png", Image.new("RGB", (20, 10)))
    assert_input_error(path, r"too large \(20x10", max_pixels=199)
    assert load_image(path, max_pixels=200).size == (20, 10)


def test_pillow_bomb_error_becomes_an_input_error(tmp_path, monkeypatch):
    path = write(tmp_path / "x.png", Image.new("RGB", (20, 20)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    assert_input_error(path, "too large to open safely", max_pixels=100)


# --- finding images ---------------------------------------------------------------------------


def test_iter_images_expands_folders_sorted_skipping_hidden_and_non_images(tmp_path):
    root = tmp_path / "trip"
    names = ["b.jpg", "a.PNG", "notes.txt", ".hidden.jpg", "day2/c.webp", "day2/deeper/d.tif", ".cache/e.jpg"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    single = tmp_path / "single.heic"
    single.write_bytes(b"x")

    flat = list(iter_images([root, single]))
    assert flat == [(root / "a.PNG", root), (root / "b.jpg", root), (single, None)]
    deep = list(iter_images([root, root / "b.jpg"], recursive=True))
    assert deep == [
        (root / "a.PNG", root),
        (root / "b.jpg", root),
        (root / "day2" / "c.webp", root),
        (root / "day2" / "deeper" / "d.tif", root),
    ]
    assert list(iter_images([tmp_path / "missing.jpg"])) == [(tmp_path / "missing.jpg", None)]


def test_iter_images_reports_unreadable_folder(tmp_path, monkeypatch):
    def refuse(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", refuse)
    with pytest.raises(InputError, match="cannot list the folder"):
        list(iter_images([tmp_path]))


# --- real photos ------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_photos_load(tmp_path):
    photos = SHARED / "photos"
    if not photos.is_dir():
        pytest.skip("shared photos are not present")
    found = list(iter_images([photos]))
    assert len(found) >= 5
    for path, _ in found:
        loaded = load_image(path)
        with Image.open(path) as reference:
            assert loaded.size == reference.size and loaded.rgb.dtype == np.uint8
            assert np.array_equal(loaded.rgb, np.asarray(reference.convert("RGB")))
            assert loaded.icc_profile == reference.info.get("icc_profile")
        out = save_image(output_path_for(path, tmp_path, relative_to=photos), loaded.rgb, loaded)
        assert load_image(out).size == loaded.size
