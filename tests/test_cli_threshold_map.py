"""`pixelguard threshold-map`: outputs, unusual images, and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pixelguard.cli import main
from pixelguard.imageio import rgb_to_tensor
from pixelguard.threshold import colour_variance_map, heat_map_image


def expected_map(rgb: np.ndarray) -> np.ndarray:
    return colour_variance_map(rgb_to_tensor(rgb)).numpy()


def random_rgb(height: int = 23, width: int = 37, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["threshold-map", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, expected_code: int = 2) -> None:
    """2 for a wrong command line, 1 for a photo that cannot be used (as in every sub-command)."""
    assert code == expected_code
    assert err.startswith("pixelguard: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_writes_a_heat_map_of_the_input_size_and_the_exact_raw_map(tmp_path, capsys):
    rgb = random_rgb()
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    code, out, err = run_cli(capsys, tmp_path / "photo.png", "-o", tmp_path / "map.png", "--raw", tmp_path / "map.npy")
    assert (code, err) == (0, "")
    assert "map.png (37x23)" in out
    raw = np.load(tmp_path / "map.npy")
    assert raw.dtype == np.float32 and np.array_equal(raw, expected_map(rgb))
    heat = Image.open(tmp_path / "map.png")
    assert heat.format == "PNG" and heat.mode == "RGB" and heat.size == (37, 23)
    assert np.array_equal(np.asarray(heat), heat_map_image(raw))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["map.npy", "map.png", "photo.png"]


def test_window_and_sigma_options_reach_the_map(tmp_path, capsys):
    rgb = random_rgb(seed=1)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    code, _, _ = run_cli(capsys, tmp_path / "photo.png", "-o", tmp_path / "m.png", "--raw", tmp_path / "m.npy", "--window", "3", "--sigma", "2")
    assert code == 0
    assert np.array_equal(np.load(tmp_path / "m.npy"), colour_variance_map(rgb_to_tensor(rgb), 3, 2.0).numpy())


def test_exif_orientation_is_applied(tmp_path, capsys):
    rgb = random_rgb(16, 24, seed=2)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    Image.fromarray(rgb).save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    stored = np.asarray(Image.open(tmp_path / "rotated.jpg").convert("RGB"))
    code, _, _ = run_cli(capsys, tmp_path / "rotated.jpg", "-o", tmp_path / "m.png", "--raw", tmp_path / "m.npy")
    assert code == 0
    assert Image.open(tmp_path / "m.png").size == (16, 24)
    assert np.array_equal(np.load(tmp_path / "m.npy"), expected_map(np.ascontiguousarray(np.rot90(stored, -1))))


def test_greyscale_alpha_and_16_bit_images_are_mapped_on_their_rgb(tmp_path, capsys):
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (19, 21)).astype(np.uint8)
    rgba = rng.integers(0, 256, (19, 21, 4)).astype(np.uint8)
    grey16 = rng.integers(0, 65536, (19, 21)).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    Image.fromarray(grey16).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")  # a true 16-bit PNG
    grey16_as_8_bit = np.rint(grey16 / 257.0).astype(np.uint8)
    cases = {
        "grey.png": np.repeat(grey[..., None], 3, axis=2),
        "alpha.png": rgba[..., :3],
        "deep.png": np.repeat(grey16_as_8_bit[..., None], 3, axis=2),
    }
    for name, rgb in cases.items():
        code, _, err = run_cli(capsys, tmp_path / name, "-o", tmp_path / f"{name}.map.png", "--raw", tmp_path / f"{name}.npy")
        assert (code, err) == (0, ""), name
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), expected_map(np.ascontiguousarray(rgb)), err_msg=name)
        assert Image.open(tmp_path / f"{name}.map.png").size == (21, 19)


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image\n")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    for bad in ("notes.txt", "missing.png", "folder", "empty.png", "dot.png"):
        code, out, err = run_cli(capsys, tmp_path / bad, "-o", tmp_path / "map.png")
        assert_one_line_error(code, err, expected_code=1)
        assert out == ""
    assert not (tmp_path / "map.png").exists()


def test_bad_options_give_one_line_errors(tmp_path, capsys):
    Image.fromarray(random_rgb()).save(tmp_path / "photo.png")
    photo = tmp_path / "photo.png"
    for options in (["--window", "4"], ["--window", "1"], ["--sigma", "0"], ["--device", "tpu"]):
        assert_one_line_error(*run_cli(capsys, photo, "-o", tmp_path / "map.png", *options)[::2])
    assert_one_line_error(*run_cli(capsys, photo, "-o", tmp_path / "map.jpg")[::2])
    assert_one_line_error(*run_cli(capsys, photo, "-o", tmp_path / "no" / "such" / "folder" / "map.png")[::2])
    assert_one_line_error(*run_cli(capsys, photo, "-o", tmp_path / "m.png", "--raw", tmp_path / "m.png")[::2])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photo.png"]


def test_never_writes_over_the_input(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(random_rgb()).save(photo)
    before = photo.read_bytes()
    code, _, err = run_cli(capsys, photo, "-o", photo)
    assert_one_line_error(code, err)
    assert "input" in err
    code, _, err = run_cli(capsys, photo, "-o", tmp_path / "map.png", "--raw", tmp_path / "." / "photo.png")
    assert_one_line_error(code, err)
    assert photo.read_bytes() == before and not (tmp_path / "map.png").exists()


def test_python_m_pixelguard_reports_bad_input_in_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image\n")
    result = subprocess.run(
        [sys.executable, "-m", "pixelguard", "threshold-map", "notes.txt", "-o", "map.png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("pixelguard: error: notes.txt: not an image") and result.stderr.count("\n") == 1
    assert not (tmp_path / "map.png").exists()


@pytest.mark.slow
def test_real_photo(shared_dir, tmp_path, capsys):
    photo = shared_dir / "photos" / "hot_dog.jpg"
    code, _, err = run_cli(capsys, photo, "-o", tmp_path / "hot_dog.png", "--raw", tmp_path / "hot_dog.npy")
    assert (code, err) == (0, "")
    raw = np.load(tmp_path / "hot_dog.npy")
    assert raw.shape == (384, 512) and raw.max() == 1.0
    assert np.array_equal(raw, expected_map(np.array(Image.open(photo).convert("RGB"))))
    assert Image.open(tmp_path / "hot_dog.png").size == (512, 384)
