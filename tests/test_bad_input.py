"""The bad-input suite: awkward files, folders, names and interruptions, each once found to lose
a file, mislead, or end in a traceback. Add a case here for every new one.

Rules checked throughout: a photo that was not protected never sits under its final name; no
file of the user's is replaced or lost; errors are one line and the batch goes on.
"""

import json
import os
import signal
import subprocess
import sys

import pytest
from PIL import Image

from pixelguard import imageio
from pixelguard.atomic import remove_stale_temporaries
from pixelguard.batch import MANIFEST_NAME, Job, Manifest, output_folder_lock, plan_jobs, protect_batch
from pixelguard.cli import main
from pixelguard.cli.protect import StopOnInterrupt, count_line, summary_line
from pixelguard.errors import InputError, PixelGuardError
from pixelguard.protect import Protector, ProtectionRecord, failed_output_path
from pixelguard.report import write_report
from test_protect import sha256, textured_photo
from toy_models import ToyClassifier, paper_settings


@pytest.fixture(autouse=True)
def own_pipeline_only(monkeypatch):
    monkeypatch.setattr("pixelguard.protect.verify_on_panel", lambda *args, **kwargs: [])


def protector(**overrides) -> Protector:
    settings = paper_settings(**{"model": "toy", "device": "cpu", "max_iter": 60, "strength": 16,
                                  "condition": "top1", **overrides})
    return Protector(settings, model=ToyClassifier())


def visible_files(folder):
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")
                  if path.is_file() and not path.name.startswith("."))


def photo_folder(tmp_path, names=("a.png", "b.png", "c.png")):
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for seed, name in enumerate(names, start=1):
        Image.fromarray(textured_photo(seed)).save(folder / name)
    return folder


# -- 1. a failed photo never looks protected --------------------------------------------------------
def test_a_flat_photo_is_not_written_under_its_name_and_a_rerun_tries_it_again(tmp_path):
    folder = photo_folder(tmp_path, ["a.png"])
    Image.new("RGB", (48, 40), "grey").save(folder / "flat.png")
    out = tmp_path / "out"
    records = {r.input.split("/")[-1]: r for r in protect_batch(plan_jobs([folder], out, recursive=False,
                                                                           fmt="keep"), protector())}
    assert records["flat.png"].status == "failed" and records["flat.png"].output is None
    assert "no colour variation" in " ".join(records["flat.png"].notes)
    assert visible_files(out) == ["a.png"]
    again = {r.input.split("/")[-1]: r for r in protect_batch(plan_jobs([folder], out, recursive=False,
                                                                         fmt="keep"), protector(),
                                                              skip_existing=True)}
    assert again["a.png"].resumed and again["a.png"].status == "protected"
    assert not again["flat.png"].resumed and again["flat.png"].status == "failed"  # tried again, not "done"


def test_keep_failed_writes_a_clearly_marked_name(tmp_path):
    Image.new("RGB", (48, 40), "grey").save(tmp_path / "flat.png")
    record = next(protect_batch([Job(tmp_path / "flat.png", tmp_path / "out" / "flat.png")], protector(),
                                keep_failed=True))
    assert record.status == "failed" and record.output == str(tmp_path / "out" / "flat.NOT-PROTECTED.png")
    assert visible_files(tmp_path / "out") == ["flat.NOT-PROTECTED.png"]
    assert failed_output_path(tmp_path / "x.jpg").name == "x.NOT-PROTECTED.jpg"


def test_resume_trusts_the_manifest_not_a_file_of_the_same_name(tmp_path):
    folder = photo_folder(tmp_path, ["a.png"])
    out = tmp_path / "out"
    out.mkdir()
    Image.fromarray(textured_photo(9)).save(out / "a.png")  # someone else's file
    before = sha256(out / "a.png")
    record = next(protect_batch(plan_jobs([folder], out, recursive=False, fmt="keep"), protector(),
                                skip_existing=True))
    assert record.status == "error" and "not this photo's verified copy" in record.error
    assert sha256(out / "a.png") == before


def test_resume_redoes_a_photo_whose_output_changed_since(tmp_path):
    folder = photo_folder(tmp_path, ["a.png"])
    out = tmp_path / "out"
    jobs = plan_jobs([folder], out, recursive=False, fmt="keep")
    assert next(protect_batch(jobs, protector())).status == "protected"
    Image.fromarray(textured_photo(1)).save(out / "a.png")  # the protected copy replaced by the original
    record = next(protect_batch(jobs, protector(), skip_existing=True))
    assert not record.resumed and record.status == "error"


def test_manifest_records_hashes_settings_and_verdicts(tmp_path):
    folder = photo_folder(tmp_path, ["a.png"])
    out = tmp_path / "out"
    next(protect_batch(plan_jobs([folder], out, recursive=False, fmt="keep"), protector()))
    entry = json.loads((out / MANIFEST_NAME).read_text())["photos"]["a.png"]
    assert entry["input_sha256"] == sha256(folder / "a.png") and entry["output_sha256"] == sha256(out / "a.png")
    assert entry["status"] == "protected" and entry["record"]["verdict"].startswith("Protected")
    (out / MANIFEST_NAME).write_text("{ damaged")  # a damaged manifest: nothing counts as done
    assert Manifest(out).entries == {}


# -- 2. threshold-map never replaces a file unasked ------------------------------------------------
def test_threshold_map_keeps_an_existing_file_unless_asked(tmp_path, capsys):
    Image.fromarray(textured_photo(1)).save(tmp_path / "photo.png")
    Image.fromarray(textured_photo(2)).save(tmp_path / "holiday.png")
    before = sha256(tmp_path / "holiday.png")
    assert main(["threshold-map", str(tmp_path / "photo.png"), "-o", str(tmp_path / "holiday.png")]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and err.count("\n") == 1
    assert sha256(tmp_path / "holiday.png") == before
    assert main(["threshold-map", str(tmp_path / "photo.png"), "-o", str(tmp_path / "holiday.png"),
                 "--overwrite"]) == 0
    assert sha256(tmp_path / "holiday.png") != before


# -- 3. two inputs, one output name -------------------------------------------------------------
def test_inputs_that_share_an_output_name_get_names_of_their_own(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(textured_photo(1)).save(folder / "pic.gif")
    Image.fromarray(textured_photo(2)).save(folder / "pic.png")
    Image.fromarray(textured_photo(3)).save(folder / "PIC.PNG" if os.name != "nt" else folder / "x.png")
    jobs = plan_jobs([folder], tmp_path / "out", recursive=False, fmt="keep")
    names = [job.output.name for job in jobs]
    assert len({name.casefold() for name in names}) == len(names) == 3
    renamed = [job for job in jobs if job.notes]
    assert renamed and all("another input is also named" in job.notes[0] for job in renamed)
    records = list(protect_batch(jobs, protector()))
    assert all(record.status == "protected" for record in records)
    assert sorted(record.notes[0] for record in records if record.notes and "another input" in record.notes[0])
    assert len(visible_files(tmp_path / "out")) == 3


# -- 4. interrupts: counts and reports match the disk; resume keeps earlier rows; temp files cleaned --
def test_stop_after_a_photo_is_written_keeps_files_manifest_and_report_in_agreement(tmp_path):
    folder = photo_folder(tmp_path)
    out = tmp_path / "out"
    jobs = plan_jobs([folder], out, recursive=False, fmt="keep")
    stop_requested = []
    records = []
    for record in protect_batch(jobs, protector(), should_stop=lambda: bool(stop_requested)):
        records.append(record.to_dict())
        write_report(records, tmp_path / "report.json")
        if len(records) == 2:
            stop_requested.append(True)  # Ctrl+C while photo 2 was being saved
    written = visible_files(out)
    protected = [r for r in records if r["status"] == "protected"]
    assert len(records) == 2 and written == sorted(r["output"].split("/")[-1] for r in protected)
    assert set(Manifest(out).entries) == {"a.png", "b.png"}
    resumed = list(protect_batch(jobs, protector(), skip_existing=True))
    write_report([r.to_dict() for r in resumed], tmp_path / "report.json")
    rows = json.loads((tmp_path / "report.json").read_text())
    assert [row["resumed"] for row in rows] == [True, True, False]
    assert rows[0]["verdict"].startswith("Protected") and rows[0]["ssim"] == records[0]["ssim"]
    assert count_line(rows) == "3 protected (2 in an earlier run)"


def test_first_interrupt_asks_to_stop_and_the_second_stops_at_once():
    with StopOnInterrupt() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_stale_temporary_files_of_killed_runs_are_removed_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stale = [out / ".a.png.1a2b3c4d.pixelguard.tmp", out / "sub" / ".b.jpg.00ff00ff.tmp"]
    kept = [out / ".notes.1a2b3c4d.tmp", out / "a.png.1a2b3c4d.pixelguard.tmp", out / "photo.png"]
    for path in stale + kept:
        path.write_bytes(b"x")
    folder = photo_folder(tmp_path, ["a.png"])
    list(protect_batch(plan_jobs([folder], out, recursive=False, fmt="keep"), protector()))
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)
    assert remove_stale_temporaries(out) == []


# -- 5. the output location is checked before any work ---------------------------------------------
def test_output_that_is_a_file_or_an_input_folder_is_refused_before_any_work(tmp_path, capsys):
    folder = photo_folder(tmp_path, ["a.png"])
    (tmp_path / "file.txt").write_text("not a folder")
    for out, message in ((tmp_path / "file.txt", "is not a folder"), (folder, "is an input folder")):
        assert main(["protect", str(folder), "-o", str(out), "--model", "no-such-model"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1  # before the model is even looked up
    with pytest.raises(PixelGuardError, match="would replace the original"):
        plan_jobs([folder / "a.png"], folder, recursive=False, fmt="keep")


def test_an_output_folder_inside_the_input_folder_is_not_walked(tmp_path):
    folder = photo_folder(tmp_path, ["a.png"])
    out = folder / "protected"
    list(protect_batch(plan_jobs([folder], out, recursive=True, fmt="keep"), protector()))
    assert [job.input.name for job in plan_jobs([folder], out, recursive=True, fmt="keep")] == ["a.png"]


# -- 6. an output's name and content agree -----------------------------------------------------------
@pytest.mark.parametrize("misnamed", ["photo.heic", "photo.gif", "photo.png"])
def test_a_jpeg_under_another_name_is_written_as_jpg(tmp_path, misnamed):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(textured_photo(1)).save(folder / misnamed, format="JPEG", quality=95)
    (job,) = plan_jobs([folder], tmp_path / "out", recursive=False, fmt="keep")
    assert job.output.name == "photo.jpg"
    record = next(protect_batch([job], protector()))
    with Image.open(record.output) as written:
        assert written.format == "JPEG"


# -- 7. bounded work, and one photo's error never ends the batch ------------------------------------
def test_extreme_sizes_are_refused_in_one_line_and_the_batch_goes_on(tmp_path):
    folder = photo_folder(tmp_path, ["ok.png"])
    Image.new("1", (100000, 2)).save(folder / "strip.png")  # once asked the model's resize for 39 GB
    Image.new("RGB", (4000, 100), "blue").save(folder / "banner.png")
    Image.new("RGB", (6, 6), "red").save(folder / "tiny.png")
    records = {r.input.split("/")[-1]: r for r in protect_batch(plan_jobs([folder], tmp_path / "out",
                                                                           recursive=False, fmt="keep"),
                                                                protector())}
    assert "too small (100000x2" in records["strip.png"].error
    assert "too elongated (4000x100" in records["banner.png"].error
    assert "too small (6x6" in records["tiny.png"].error
    assert records["ok.png"].status == "protected"
    assert all("\n" not in (r.error or "") for r in records.values())


def test_a_tiny_file_that_decodes_huge_is_refused_before_decoding(tmp_path):
    # Like the 24 KB 1-bit PNG of 14000x14000 that needed 5.9 GB: here 8000x8000, over the 50 MP default.
    Image.new("1", (8000, 8000)).save(tmp_path / "huge.png")
    assert (tmp_path / "huge.png").stat().st_size < 100_000
    with pytest.raises(InputError, match=r"too large \(8000x8000, 64 megapixels; the limit is 50"):
        imageio.load_image(tmp_path / "huge.png")


def test_the_pixel_limit_is_an_option_and_an_environment_variable(tmp_path, monkeypatch, capsys):
    Image.fromarray(textured_photo(1)).save(tmp_path / "a.png")  # 48x40 = 1920 pixels
    with pytest.raises(InputError, match="--max-pixels or PIXELGUARD_MAX_PIXELS"):
        imageio.load_image(tmp_path / "a.png", max_pixels=1000)
    monkeypatch.setenv("PIXELGUARD_MAX_PIXELS", "1000")
    with pytest.raises(InputError, match="too large"):
        imageio.load_image(tmp_path / "a.png")
    assert imageio.load_image(tmp_path / "a.png", max_pixels=2000).size == (48, 40)
    monkeypatch.setenv("PIXELGUARD_MAX_PIXELS", "lots")
    assert main(["threshold-map", str(tmp_path / "a.png"), "-o", str(tmp_path / "m.png")]) == 2
    assert "PIXELGUARD_MAX_PIXELS must be a number" in capsys.readouterr().err
    monkeypatch.delenv("PIXELGUARD_MAX_PIXELS")
    assert main(["threshold-map", str(tmp_path / "a.png"), "-o", str(tmp_path / "m.png"), "--max-pixels", "1000"]) == 1
    assert imageio.max_pixels_limit() == imageio.DEFAULT_MAX_PIXELS


@pytest.mark.parametrize("failure, message", [(MemoryError(), "not enough memory"),
                                              (RuntimeError("boom"), "unexpected error (RuntimeError: boom)")])
def test_an_unexpected_error_in_one_photo_is_an_error_record(tmp_path, monkeypatch, failure, message):
    folder = photo_folder(tmp_path, ["a.png", "b.png"])
    real = Protector.protect_image

    def fail_on_a(self, source, output, **options):
        if source.path.name == "a.png":
            raise failure
        return real(self, source, output, **options)

    monkeypatch.setattr(Protector, "protect_image", fail_on_a)
    records = list(protect_batch(plan_jobs([folder], tmp_path / "out", recursive=False, fmt="keep"), protector()))
    assert records[0].status == "error" and message in records[0].error
    assert records[1].status == "protected"
    assert visible_files(tmp_path / "out") == ["b.png"]


# -- 10, 11. what the terminal says ---------------------------------------------------------------------
def test_conversion_notes_and_errors_reach_the_terminal_once(tmp_path):
    record = ProtectionRecord(input=str(tmp_path / "deep.png"), output=str(tmp_path / "out" / "deep.png"),
                              verdict="Protected: x", ssim=0.99, delta_e_mean=1.0, iterations=3, seconds=1.0,
                              notes=["16-bit image converted to 8 bits per channel for processing; output is 8-bit"])
    assert "\n    note: 16-bit image converted" in summary_line(record)
    error = ProtectionRecord(input=str(tmp_path / "bad.jpg"), status="error",
                             error=f"{tmp_path / 'bad.jpg'}: damaged or unreadable image file")
    assert summary_line(error) == f"{tmp_path / 'bad.jpg'}: error: damaged or unreadable image file"


def test_the_same_bad_file_exits_1_from_every_command(tmp_path, capsys):
    (tmp_path / "notes.jpg").write_text("not a photo")
    assert main(["threshold-map", str(tmp_path / "notes.jpg"), "-o", str(tmp_path / "m.png")]) == 1
    err = capsys.readouterr().err
    assert "(JPEG, PNG, WebP, TIFF, BMP, GIF" in err
    assert ("HEIC" in err) == imageio.HEIC_SUPPORTED


def test_two_runs_never_write_one_output_folder_at_once(tmp_path):
    folder = photo_folder(tmp_path, ["a.png"])
    out = tmp_path / "out"
    with output_folder_lock(out):
        with pytest.raises(PixelGuardError, match="another PixelGuard run is writing there"):
            list(protect_batch(plan_jobs([folder], out, recursive=False, fmt="keep"), protector()))
        # Another process sees the same lock.
        probe = ("import sys; from pathlib import Path; from pixelguard.batch import output_folder_lock\n"
                 "try:\n    output_folder_lock(Path(sys.argv[1])).__enter__()\nexcept Exception as e:\n"
                 "    print(e)")
        result = subprocess.run([sys.executable, "-c", probe, str(out)], capture_output=True, text=True, timeout=120)
        assert "another PixelGuard run" in result.stdout
    assert next(protect_batch(plan_jobs([folder], out, recursive=False, fmt="keep"), protector())).status \
        == "protected"


def test_strength_zero_says_what_is_allowed():
    with pytest.raises(PixelGuardError, match="above 0 and at most 255"):
        protector(strength=0)



def test_an_ensemble_refuses_options_meant_for_one_model_file(tmp_path, capsys):
    folder = photo_folder(tmp_path, ["a.png"])
    assert main(["protect", str(folder), "-o", str(tmp_path / "out"), "--model", "efficientnet-lite0,efficientnet-lite1",
                 "--arch", "resnet50"]) == 2
    assert "--arch describe one model file" in capsys.readouterr().err


def test_cuda_n_is_a_device_the_command_line_takes(tmp_path, capsys):
    import torch

    if torch.cuda.device_count() > 1:
        pytest.skip("cuda:1 exists here")
    folder = photo_folder(tmp_path, ["a.png"])
    code = main(["protect", str(folder), "-o", str(tmp_path / "out"), "--device", "cuda:1"])
    err = capsys.readouterr().err
    assert code == 2 and "invalid choice" not in err and "cuda" in err  # resolve_device's message, one line
