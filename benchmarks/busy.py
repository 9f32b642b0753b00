"""One protection on a busy machine: idle, and beside 1 and 2 CPU-bound processes, per thread policy.

The photo is ../shared/photos/cat_720p.jpg at its native 1280x720, protected with the default
(Balanced) preset on the CPU, PNG out; the model is loaded before the clock starts. Each run is a
fresh process, so OpenMP starts with that run's settings; the competitors are plain Python busy
loops started just before it. Policies:

  torch defaults   what PyTorch does unasked (threads = cores, spinning waits): the baseline
  pixelguard       what the command line sets now: passive waits when other programs keep
                   the cores busy as it starts, else PyTorch's spinning; threads = usable cores
  always passive   passive waits whatever the load (what the desktop app does)
  1 thread         PIXELGUARD_THREADS=1
  short spin       PyTorch's defaults, but GNU OpenMP spins 10000 times (not 300000) before it sleeps

Fair share with k competitors on c cores is what the idle time stretches to when every process
gets an equal slice: idle x (k + 1) / c for k + 1 > c, else idle (the issue's target counts it
as 3x idle for 2 competitors on 2 cores, the single-thread case; both are printed).
Usage: python benchmarks/busy.py [--competitors 0,1,2] [--repeats 1] [--policies "torch defaults,pixelguard"]
(the median of the repeats is tabled)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import PHOTOS, markdown_table

PHOTO = PHOTOS / "cat_720p.jpg"

CHILD = r"""
import json, os, sys, tempfile, time
from pathlib import Path
wait = os.environ.get("OMP_WAIT_POLICY", "default")  # what OpenMP will see if it loads now
if os.environ.get("BUSY_TORCH_FIRST"):
    import torch  # OpenMP loads with PyTorch's own defaults, before PixelGuard could set any
else:
    from pixelguard.threads import prepare_environment
    prepare_environment()  # as the command line does before a command loads PyTorch
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from pixelguard.settings import preset_settings
import torch
wait = wait if os.environ.get("BUSY_TORCH_FIRST") else os.environ.get("OMP_WAIT_POLICY", "default")
protector = Protector(preset_settings("balanced", format="png", device="cpu"))
with tempfile.TemporaryDirectory() as folder:
    started = time.perf_counter()
    record = next(protect_batch([Job(Path(sys.argv[1]), Path(folder) / "out.png")], protector))
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "iterations": record.iterations, "status": record.status,
                  "threads": torch.get_num_threads(), "wait": wait}))
"""

POLICIES = {
    "torch defaults": {"BUSY_TORCH_FIRST": "1"},
    "pixelguard": {},
    "1 thread": {"PIXELGUARD_THREADS": "1"},
    "short spin": {"BUSY_TORCH_FIRST": "1", "GOMP_SPINCOUNT": "10000"},
    "always passive": {"OMP_WAIT_POLICY": "PASSIVE"},
}
# Variables that would override a policy; each run starts without them.
CLEARED = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "PIXELGUARD_THREADS", "MKL_NUM_THREADS", "GOMP_SPINCOUNT")


def run_once(policy: str, competitors: int) -> dict:
    environment = {key: value for key, value in os.environ.items() if key not in CLEARED}
    environment.update(POLICIES[policy])
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(competitors)]
    try:
        time.sleep(0.5 if loops else 0)
        result = subprocess.run([sys.executable, "-c", CHILD, str(PHOTO)], env=environment, capture_output=True,
                                text=True, check=True)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--competitors", default="0,1,2")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--policies", default="torch defaults,pixelguard,always passive,1 thread", help="comma-separated, from: " + ", ".join(POLICIES))
    args = parser.parse_args()
    policies = [name.strip() for name in args.policies.split(",")]
    loads = [int(value) for value in args.competitors.split(",")]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{PHOTO.name} 1280x720, Balanced preset, CPU, {cores} cores; load average before: "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    results: dict[tuple[str, int], list[dict]] = {}
    for _ in range(args.repeats):
        for competitors in loads:
            for policy in policies:
                outcome = run_once(policy, competitors)
                results.setdefault((policy, competitors), []).append(outcome)
                print(f"  {policy}, {competitors} competing: {outcome['seconds']:.1f} s "
                      f"({outcome['iterations']} iterations, {outcome['threads']} threads, {outcome['wait']})",
                      flush=True)
    def median(policy, competitors):
        values = sorted(r["seconds"] for r in results[(policy, competitors)])
        return values[len(values) // 2]
    baseline_idle = median("torch defaults", 0) if 0 in loads and "torch defaults" in policies else None
    rows = []
    for policy in policies:
        idle = median(policy, 0) if 0 in loads else None
        for competitors in loads:
            seconds = median(policy, competitors)
            fair = idle * max(1.0, (competitors + 1) / cores) if idle else None
            rows.append([policy, competitors, f"{seconds:.1f}",
                         f"{seconds / baseline_idle:.2f}x" if baseline_idle else "",
                         f"{seconds / idle:.2f}x" if idle else "",
                         f"{seconds / fair:.2f}" if fair else "",
                         f"{seconds / (idle * (competitors + 1)):.2f}" if idle else "",
                         results[(policy, competitors)][0]["iterations"]])
    print(markdown_table(["policy", "competing processes", "seconds", "vs torch defaults idle", "vs own idle",
                          "vs fair share", "vs (k+1) x idle", "iterations"], rows))


if __name__ == "__main__":
    main()
