"""`pixelguard doctor` reports the installation and writes nothing."""

from pixelguard.cli import main


def test_doctor_reports_versions_devices_cache_and_models(tmp_path, monkeypatch, capsys):
    home = tmp_path / "cache"
    monkeypatch.setenv("PIXELGUARD_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for expected in ("pixelguard", "torch", "torchvision", "qt", "cpu (", str(home), "efficientnet-lite0",
                     "installed", "places365-resnet18"):
        assert expected in out
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the cache folder
