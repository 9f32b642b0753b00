"""PyTorch's threads: passive waiting and a chosen count, set before PyTorch loads."""

import os
import subprocess
import sys
import time

import pytest

from pixelguard import threads
from pixelguard.threads import busy_cores, chosen_threads, prepare_environment, usable_cores


@pytest.mark.parametrize("load, waiting", [(0.1, None), (0.6, "PASSIVE"), (None, "PASSIVE")])
def test_threads_wait_passively_when_other_programs_keep_the_cores_busy(monkeypatch, load, waiting):
    monkeypatch.setattr(threads, "busy_cores", lambda: load)
    environ = {}
    prepare_environment(environ)
    assert environ.get("OMP_WAIT_POLICY") == waiting and environ["OMP_NUM_THREADS"] == str(usable_cores())
    environ = {}
    prepare_environment(environ, always_passive=True)  # the desktop app
    assert environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_busy_cores_sees_a_busy_process():
    if busy_cores() is None:
        pytest.skip("no /proc/stat here")
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert busy_cores(0.5) >= 0.7
    finally:
        loop.kill()
        loop.wait()


def test_the_users_choices_win():
    environ = {"PIXELGUARD_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"}
    prepare_environment(environ)
    assert environ["OMP_NUM_THREADS"] == "3" and environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert chosen_threads({"OMP_NUM_THREADS": "2"}) == 2
    assert chosen_threads({"PIXELGUARD_THREADS": "zero"}) == usable_cores()  # nonsense is ignored


def test_preparing_before_pytorch_loads_sets_its_thread_count():
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OMP_")}
    environment["PIXELGUARD_THREADS"] = "1"
    probe = ("import os; from pixelguard.threads import prepare_environment; "
             "prepare_environment(always_passive=True); import torch; "
             "print(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])")
    result = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.split() == ["1", "PASSIVE"], result.stderr
