"""`pixelguard protect`: protect photos and folders, verified on the saved files."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from tqdm import tqdm

from pixelguard.cli.commands import add_command_parser
from pixelguard.attacks.loop import AttackCancelled
from pixelguard.batch import Job, plan_jobs, protect_batch
from pixelguard.cli.common import add_max_pixels_argument
from pixelguard.cli.models import add_model_options, model_from_args
from pixelguard.devices import resolve_device
from pixelguard.errors import PixelGuardError
from pixelguard import imageio
from pixelguard.imageio import DEFAULT_JPEG_QUALITY, METADATA_POLICIES, OUTPUT_FORMATS
from pixelguard.attacks import METHODS
from pixelguard.protect import Outcome, ProtectionRecord, Protector
from pixelguard.models.ensembles import ENSEMBLE_PRESETS, is_ensemble_spec
from pixelguard.report import check_report_path, write_report
from pixelguard.settings import (BUDGETS, CONDITION_NAMES, LOSSES, PRESETS, VIEW_MODES, ProtectSettings,
                                 method_options, preset_settings)
from pixelguard.transfer import load_models, transfer_preset

DEFAULTS = ProtectSettings()


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by `protect` and `demo`."""
    add_model_options(parser)
    parser.set_defaults(model=None)  # the preset's model unless one is named
    parser.add_argument("--preset", default="balanced", choices=PRESETS,
                        help="balanced (default): perceptual budget, robust to resizers and uploads; strong: a "
                             "larger budget and more steps; fast: the published RGB-budget attack, checked on the "
                             "model's own pipeline while optimising. Options below override a preset")
    parser.add_argument("--method", default=DEFAULTS.method, choices=METHODS, help="attack method (default: %(default)s)")
    judged_by = "; ".join(f"{name}: {', '.join(method.conditions)}" for name, method in METHODS.items())
    parser.add_argument("--condition", choices=CONDITION_NAMES,
                        help="when a photo counts as protected (default: the method's first; semantic: no top-5 "
                             f"label related to the truth; top5: the label leaves the top 5). By method: {judged_by}")
    parser.add_argument("--budget", choices=BUDGETS,
                        help="delta-e: a per-pixel CIEDE2000 allowance, larger in texture (default); "
                             "rgb: the paper's m * colour variance per channel (--strength)")
    parser.add_argument("--max-delta-e", type=float,
                        help=f"largest CIEDE2000 change, in textured pixels (default: {DEFAULTS.max_delta_e}; "
                             "flat regions get a quarter of it)")
    parser.add_argument("--views", choices=VIEW_MODES,
                        help="robust: optimise over many resizers, crops and uploads (default); model: the "
                             "model's own pipeline only")
    parser.add_argument("--verify-with", default="", metavar="MODEL,...",
                        help="more models (same labels) for the held-out check panel")
    parser.add_argument("--label", help="the label to remove (default: the model's top prediction on the original)")
    parser.add_argument("--strength", type=float, default=DEFAULTS.strength,
                        help="largest change in the busiest pixels, in 8-bit levels (default: %(default)s)")
    parser.add_argument("--l1", type=float, default=DEFAULTS.l1,
                        help="weight of the penalty on budget used; 0 turns it off (default: %(default)s)")
    parser.add_argument("--max-iter", type=int, help=f"iterations per attempt (default: {DEFAULTS.max_iter})")
    parser.add_argument("--format", default=DEFAULTS.format, choices=OUTPUT_FORMATS, help="output format (default: %(default)s)")
    parser.add_argument("--jpeg-quality", type=jpeg_quality, default=DEFAULTS.jpeg_quality, metavar="1-100|original",
                        help="JPEG quality, written 4:4:4 (default: original: a JPEG photo keeps its own "
                             f"quantisation tables and chroma subsampling; other photos get {DEFAULT_JPEG_QUALITY})")
    parser.add_argument("--metadata", default=DEFAULTS.metadata, choices=METADATA_POLICIES,
                        help="what metadata to keep (default: %(default)s: only the colour profile)")
    parser.add_argument("--device", default=DEFAULTS.device,
                        help="where to compute: auto, cpu, cuda, cuda:N or mps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="random seed (default: %(default)s)")
    parser.add_argument("--k", type=int, default=DEFAULTS.k,
                        help="top-k cut-off for the semantic condition and tkmia (default: %(default)s)")
    add_method_option_arguments(parser)
    add_transfer_arguments(parser)


def jpeg_quality(text: str) -> int | None:
    """--jpeg-quality: a number, or 'original' (None) for the input's own compression."""
    if text.strip().lower() == "original":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to 100 or 'original', got {text!r}") from None


def add_method_option_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field of the methods' options dataclasses (pixelguard.attacks.base.option)."""
    group = parser.add_argument_group("the methods' own options")
    for name, (declared, owners) in method_options().items():
        flag, kind = "--" + name.replace("_", "-"), declared.metadata["kind"]
        text = f"{'/'.join(owners)}: {declared.metadata['help']}"
        if kind == "switch":
            group.add_argument(flag, action="store_true", help=text)
        elif kind == "list":
            group.add_argument(flag, default="", metavar="LABEL,...", help=f"{text} (comma-separated)")
        else:
            group.add_argument(flag, help=text)


def method_options_from(args: argparse.Namespace) -> dict:
    """The methods' option values from their flags (a list flag's commas split)."""
    values = {}
    for name, (declared, _) in method_options().items():
        value = getattr(args, name)
        if declared.metadata["kind"] == "list":
            value = tuple(item.strip() for item in value.split(",") if item.strip())
        values[name] = value
    return values


def add_transfer_arguments(parser: argparse.ArgumentParser) -> None:
    """Transfer to unseen classifiers and robustness to uploads (docs/transfer-and-robustness.md)."""
    group = parser.add_argument_group("transfer and robustness (--model also takes 'a,b,c' or "
                                      f"{', '.join(ENSEMBLE_PRESETS)} for an ensemble)")
    group.add_argument("--transfer", action="store_true",
                       help="published transfer settings: MI + TI + DI, margin loss, step 2/255, 300 iterations")
    group.add_argument("--momentum", type=float, default=DEFAULTS.momentum,
                       help="momentum-iterative sign steps with this momentum instead of Adam (0: off)")
    group.add_argument("--ti", action="store_true", help="translation-invariant gradient smoothing (needs --momentum)")
    group.add_argument("--di", action="store_true", help="input diversity: random resize and padding each step")
    group.add_argument("--loss", default=DEFAULTS.loss, choices=LOSSES,
                       help="cvpire's loss: cross-entropy or logit margin (default: %(default)s)")
    group.add_argument("--confidence", type=float, default=DEFAULTS.confidence,
                       help="keep optimising until the label trails by this many logits (default: %(default)s)")
    group.add_argument("--eot", action="store_true",
                       help="optimise over upload transforms: JPEG, downscaling to 2048/1080 px, small crops")
    group.add_argument("--relational-mask", action="store_true",
                       help="change only the pixels the relational mask selects (KAA+ER; always on for kaa)")


# Options a preset sets; given on the command line, they win over it.
PRESET_OPTIONS = ("condition", "budget", "max_delta_e", "views", "max_iter")


def settings_from(args: argparse.Namespace) -> ProtectSettings:
    chosen = {name: getattr(args, name) for name in PRESET_OPTIONS + ("model",) if getattr(args, name) is not None}
    settings = preset_settings(
        args.preset, **chosen,
        method=args.method, strength=args.strength,
        l1=args.l1, label=args.label, format=args.format,
        verify_with=tuple(name.strip() for name in args.verify_with.split(",") if name.strip()),
        jpeg_quality=args.jpeg_quality, metadata=args.metadata, device=args.device, seed=args.seed,
        k=args.k, **method_options_from(args),
        momentum=args.momentum, ti=args.ti, di=args.di, loss=args.loss, confidence=args.confidence,
        eot=args.eot, relational_mask=args.relational_mask,
    )
    given = [f"--{name}" for name in ("arch", "labels", "preprocess") if getattr(args, name, None)]
    if given and is_ensemble_spec(settings.model):
        raise PixelGuardError(f"{', '.join(given)} describe one model file; an ensemble ({settings.model}) takes "
                              "registry names only")
    args.model = settings.model  # model_from_args loads it (with --arch/--labels for a file)
    return transfer_preset(settings) if args.transfer else settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command_parser(
        subparsers, "protect",
        description="Add an invisible perturbation so the classifier no longer recognises each photo. "
                    "Originals are never modified; protected copies keep their file names (the suffix follows "
                    "the format written), and a photo that could not be protected is not written.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="photos or folders")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the protected copies")
    parser.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders (kept in the output)")
    add_settings_arguments(parser)
    parser.add_argument("--report", metavar="FILE", help="write a report (.json or .csv), updated after each photo")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    existing.add_argument("--skip-existing", action="store_true",
                          help="resume a batch: skip photos an earlier run into OUTDIR protected (its manifest "
                               "says so and the file is unchanged)")
    parser.add_argument("--keep-failed", action="store_true",
                        help="also write photos that could not be protected, as NAME.NOT-PROTECTED.ext "
                             "(default: they are not written)")
    add_max_pixels_argument(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def summary_line(record: ProtectionRecord) -> str:
    """One line per photo, then its notes (format conversions, renames) indented below."""
    name = Path(record.input).name
    if record.status == Outcome.ERROR:
        # The file's path once, as given: engine errors about a file start with it too.
        line = f"{record.input}: error: {record.error.removeprefix(f'{record.input}: ')}"
    elif record.resumed:
        line = f"{name}: {record.verdict}"
    else:
        saved = f"saved as {record.output}" if record.output else "not written"
        line = (f"{name}: {record.verdict} (SSIM {record.ssim:.4f}, mean dE00 {record.delta_e_mean:.2f}, "
                f"{record.iterations} iterations, {record.seconds:.1f} s; {saved})")
    notes = [] if record.resumed else record.notes  # said when that run protected it
    return "\n".join([line, *(f"    note: {note}" for note in notes)])


def before_after_table(record: ProtectionRecord) -> str:
    """Top-5 before and after, side by side, the removed label marked with *."""
    width = max([len(label) for label, _ in record.before + record.after] + [12])
    lines = [f"    {'before':<{width + 8}}    after (read back from the saved file)"]
    for rank in range(max(len(record.before), len(record.after))):
        cells = []
        for predictions in (record.before, record.after):
            if rank < len(predictions):
                label, prob = predictions[rank]
                mark = "*" if label == record.label else " "
                cells.append(f"{rank + 1}.{mark}{label:<{width}} {prob:6.1%}")
            else:
                cells.append(" " * (width + 10))
        lines.append("  " + "    ".join(cells))
    lines.append(f"  * = the label to remove ('{record.label}')")
    panel = record.extra.get("panel", [])
    if panel:
        lines.append("  held-out checks (independent code, on the saved file):")
        for check in panel:
            mark = "held  " if check["held"] else "FAILED"
            lines.append(f"    {mark} {check['model']} via {check['view']}: top-1 '{check['top1']}'")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    settings.validate()
    if args.report:
        check_report_path(args.report)
    imageio.max_pixels_limit(args.max_pixels)  # a bad limit fails now, not once per photo
    jobs = plan_jobs(args.inputs, args.output, recursive=args.recursive, fmt=settings.format)
    if not jobs:
        raise PixelGuardError("no photos found in the given inputs")
    return protect_with_progress(jobs, settings, args)


class StopOnInterrupt:
    """Ctrl+C finishes the photo being written, then stops the batch; a second one stops at once.

    Stopping between steps keeps the files, the manifest and the report in agreement.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> "StopOnInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._interrupt)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _interrupt(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("pixelguard: stopping; the photo being written is finished first (Ctrl+C again: now)",
                   file=sys.stderr)

    def __call__(self) -> bool:
        return self.requested


def protect_with_progress(jobs: list[Job], settings: ProtectSettings, args: argparse.Namespace) -> int:
    quiet = getattr(args, "quiet", False)
    settings.validate()
    device = resolve_device(settings.device)
    model = load_models(settings.model, device) if is_ensemble_spec(settings.model) else model_from_args(args, device)
    protector = Protector(settings, model=model)
    records: list[dict] = []
    # disable=None: bars only on a terminal, so logs and pipes get clean lines.
    batch_bar = tqdm(total=len(jobs), unit="photo", desc="photos", disable=True if quiet or len(jobs) == 1 else None,
                     file=sys.stderr, position=0)
    photo_bar = tqdm(total=settings.max_iter, unit="it", leave=False, disable=True if quiet else None,
                     file=sys.stderr, position=1 if len(jobs) > 1 else 0)

    def on_start(index, job):
        photo_bar.reset(total=settings.max_iter)
        photo_bar.set_description(job.input.name[:24])

    def on_iteration(iteration, total):
        photo_bar.total = max(photo_bar.total, iteration)
        photo_bar.n = iteration
        photo_bar.refresh()

    interrupted = False
    with StopOnInterrupt() as stop:
        try:
            for record in protect_batch(
                jobs, protector, overwrite=getattr(args, "overwrite", False),
                skip_existing=getattr(args, "skip_existing", False), keep_failed=getattr(args, "keep_failed", False),
                max_pixels=getattr(args, "max_pixels", None), out_dir=args.output,
                on_start=on_start, on_iteration=on_iteration, should_stop=stop,
            ):
                records.append(record.to_dict())
                photo_bar.clear()
                tqdm.write(summary_line(record), file=sys.stderr if record.status == Outcome.ERROR else sys.stdout)
                if len(jobs) == 1 and record.before and not record.resumed:
                    tqdm.write(before_after_table(record), file=sys.stdout)
                batch_bar.update(1)
                if getattr(args, "report", None):
                    write_report(records, args.report)
        except (KeyboardInterrupt, AttackCancelled):
            interrupted = True
        finally:
            photo_bar.close()
            batch_bar.close()
        interrupted = interrupted or (stop.requested and len(records) < len(jobs))
    print(count_line(records))
    if interrupted:
        print(f"pixelguard: stopped after {len(records)} of {len(jobs)} photo(s); {args.output} holds "
              f"{sum(r['status'] == 'protected' for r in records)} protected copies from this batch; "
              "run again with --skip-existing to go on", file=sys.stderr)
        return 130
    return 0 if all(r["status"] == Outcome.PROTECTED for r in records) else 1


def count_line(records: list[dict]) -> str:
    """'3 protected (1 in an earlier run), 1 failed': the batch's outcome, as on disk."""
    parts = []
    for status in Outcome:
        count = sum(r["status"] == status for r in records)
        if count:
            resumed = sum(r["status"] == status and r.get("resumed", False) for r in records)
            parts.append(f"{count} {status}" + (f" ({resumed} in an earlier run)" if resumed else ""))
    return ", ".join(parts) or "nothing done"
