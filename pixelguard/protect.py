"""The protect pipeline: load -> budget map -> attack -> encode -> decode and verify -> save.

Both faces (CLI and GUI) call this module (batches: pixelguard.batch); it knows nothing of
either. A photo counts as protected only when the encoded file, decoded as a reader will decode
it, meets the condition; only then are those exact bytes written under the photo's name.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from pixelguard import imageio, metrics, perceptual, robust, transfer
from pixelguard.attacks.kaa import relational_mask
from pixelguard.attacks.loop import AttackOutcome, Optimiser, run_attack
from pixelguard.devices import resolve_device
from pixelguard.errors import PixelGuardError
from pixelguard.labels import find_label
from pixelguard.models import datapacks, get_entry, model_status
from pixelguard.models.ensembles import ensemble_member_names
from pixelguard.panel import verify_on_panel
from pixelguard.semantics import LABEL_SET_PACKS
from pixelguard.settings import ProtectSettings
from pixelguard.threshold import colour_variance_map
from pixelguard.views import Resize, encode_decode, target_size

TOP_K_REPORTED = 5
# Saving to JPEG can undo a protection that held on the float image; each further attempt
# continues from the saved state with the real encoder in the loop.
VERIFY_ATTEMPTS = 3


def models_to_download(spec: str, verify_with: Iterable[str] = ()) -> list[str]:
    """Registry models in `spec` (and the panel's `verify_with`) whose weights are not on this machine yet."""
    missing = []
    for name in [*ensemble_member_names(spec), *verify_with]:
        try:
            if model_status(name) == "not-downloaded":
                missing.append(name)
        except PixelGuardError:  # a model file, not a registry name: nothing to download
            pass
    return missing


def data_packs_to_download(settings: ProtectSettings) -> list[str]:
    """The data packs these settings need for their registry models that are not cached yet.

    Fetching them before the first photo lets a face show the download (size, progress,
    cancel) instead of stalling inside the attack; model files are left to the engine.
    """
    if not settings.build().needs_hierarchy:
        return []
    packs: list[str] = []
    for name in ensemble_member_names(settings.model):
        try:
            label_set = get_entry(name).labels
        except PixelGuardError:  # a model file, not a registry name
            continue
        for pack in LABEL_SET_PACKS.get(label_set, ()):
            if pack not in packs and not datapacks.has_datapack(pack):
                packs.append(pack)
    return packs


class Outcome(str, Enum):
    """What became of a photo; a str, so reports and comparisons read the plain word."""

    PROTECTED = "protected"  # every check held; written under its name
    FAILED = "failed"  # a check did not hold; not written under its name
    ERROR = "error"  # could not be read or processed

    def __str__(self) -> str:
        return self.value


@dataclass
class ProtectionRecord:
    """One report row (PRODUCT.md "Report"); `after` is measured on the saved file."""

    input: str
    output: str | None = None
    model: str = ""
    method: str = ""
    condition: str = ""
    label: str | None = None
    success: bool = False
    verdict: str = ""
    iterations: int = 0
    attempts: int = 0
    seconds: float = 0.0
    device: str = ""
    before: list[list] = field(default_factory=list)
    after: list[list] = field(default_factory=list)
    ssim: float | None = None
    psnr: float | None = None
    delta_e_mean: float | None = None
    delta_e_p95: float | None = None
    delta_e_max: float | None = None
    linf: int | None = None
    budget_used: float | None = None
    notes: list[str] = field(default_factory=list)
    status: Outcome = Outcome.PROTECTED
    reason: str = ""  # why it is not protected (status failed), in words; the verdict's tail
    resumed: bool = False  # this row is an earlier run's, its output verified unchanged since
    error: str | None = None
    extra: dict = field(default_factory=dict)  # method-specific fields (target, hidden tags, ...)

    def to_dict(self) -> dict:
        """Flat record for JSON/CSV: the method's extra fields sit beside the common ones."""
        record = asdict(self)
        extra = record.pop("extra")
        return {**record, **extra}

    @classmethod
    def from_dict(cls, flat: dict) -> "ProtectionRecord":
        """The record to_dict() flattened (a resumed batch reads earlier rows back)."""
        names = {item.name for item in fields(cls)} - {"extra"}
        record = cls(**{key: value for key, value in flat.items() if key in names},
                     extra={key: value for key, value in flat.items() if key not in names})
        record.status = Outcome(record.status)
        return record


@dataclass
class CheckedOutput:
    """An attempt's result as it will be written, and what the checks found on it."""

    encoded: imageio.EncodedImage
    saved: imageio.LoadedImage  # `encoded`, decoded as a reader of the file will
    logits: torch.Tensor  # the protecting model on `saved`
    verified: bool  # the condition holds on the model's own pipeline
    panel: list  # PanelResult per held-out check


FAILED_MARK = "NOT-PROTECTED"


def failed_output_path(output: Path) -> Path:
    """Where an unprotected result goes when the user asks to keep it: photo.NOT-PROTECTED.png."""
    return output.with_name(f"{output.stem}.{FAILED_MARK}{output.suffix}")


def top_k(logits: torch.Tensor, labels: list[str], k: int = TOP_K_REPORTED) -> list[list]:
    """[[label, probability], ...] for the k most probable classes."""
    probs = logits.float().softmax(dim=-1)
    values, indices = probs.topk(min(k, probs.shape[-1]))
    return [[labels[i], round(float(p), 6)] for p, i in zip(values.tolist(), indices.tolist())]


class Protector:
    """Holds a loaded model and protects photos with fixed settings."""

    def __init__(
        self,
        settings: ProtectSettings,
        model: torch.nn.Module | None = None,
        download_progress: Callable[[int, int], None] | None = None,
        verify_models: list[torch.nn.Module] | None = None,
    ):
        self.settings = settings  # the form, for reports and the manifest
        self.run = run = settings.build()
        self.device = resolve_device(run.device)
        if model is None:
            model = transfer.load_models(run.model, device=self.device, progress=download_progress)
        self.model = model.to(self.device).eval()
        self.labels: list[str] = list(model.labels)
        # Names the user typed fail once, before any photo, not once per photo.
        for name in run.label_names():
            find_label(self.labels, name)
        if verify_models is None:
            verify_models = [transfer.load_models(name, device=self.device, progress=download_progress)
                             for name in run.verify_with]
        for extra in verify_models:
            if list(extra.labels) != self.labels:
                raise PixelGuardError(
                    f"--verify-with model {getattr(extra, 'name', '?')} has other labels than {settings.model}; "
                    "the panel needs models with the same label set")
        # The held-out panel: the protecting model(s) along independent routes, plus the user's.
        self.panel_models = [self.model] + [extra.to(self.device).eval() for extra in verify_models]
        if run.loop.robust:
            self.attack_model = robust.SampledRoutes(self.model, seed=run.loop.seed)
        else:
            self.attack_model = transfer.attack_model(self.model, run.loop)

    def tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """HxWx3 uint8 -> (3,H,W) in [0,1] on this protector's device."""
        return imageio.rgb_to_tensor(rgb).to(self.device)

    @torch.no_grad()
    def logits(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image.unsqueeze(0))[0]

    def budget_map(self, image: torch.Tensor) -> torch.Tensor:
        """pT = m * cV: per-pixel bound, in [0,1] pixel units, shared by the three channels."""
        budget = self.run.budget
        cv = colour_variance_map(image, window=budget.window, sigma=budget.sigma)
        return cv * (budget.strength / 255)

    def protect_image(
        self,
        source: imageio.LoadedImage,
        output: Path,
        *,
        overwrite: bool = False,
        keep_failed: bool = False,
        on_iteration: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ProtectionRecord:
        """Protect one loaded photo; verify the encoded file on the model's own pipeline and on
        the held-out panel, and write it to `output` only when protected. An unprotected result
        is written under failed_output_path(output) with keep_failed, else nowhere."""
        run = self.run
        started = time.perf_counter()
        imageio.check_processable(source)
        imageio.check_destination(output, source.path, overwrite)
        image = self.tensor(source.rgb)
        clean_logits = self.logits(image)
        budget = self.budget_map(image)  # the RGB bound; also the plans' L1 normaliser
        if run.budget.relational_mask or run.method.uses_relational_mask:
            budget = budget * relational_mask(self.model, image, seed=run.loop.seed)
        budget_l1 = float(budget.sum()) * 3
        context = run.plan_context(self.model, self.labels, image, clean_logits, budget)
        plan = transfer.with_loss(run.method.plan(context), context, run.loop)
        condition = plan.condition
        record = ProtectionRecord(
            input=str(source.path),
            model=run.model,
            method=run.method.name,
            condition=condition.name,
            label=self.labels[plan.label],
            device=str(self.device),
            before=top_k(clean_logits, self.labels),
            notes=list(source.notes),
            extra=dict(plan.details),
        )
        if budget_l1 == 0:
            record.notes.append("the photo has no colour variation, so no invisible change is possible")
        output_format = imageio.resolve_format(run.output.format, source)
        if output_format == "jpeg":
            record.extra["jpeg_encoding"] = imageio.jpeg_encoding(run.output.jpeg_quality, source.jpeg_compression)
        attempt_run = self._perceptual_attempts if run.budget.kind == "delta-e" else self._rgb_attempts
        checked = attempt_run(
            image, budget, plan, condition, source, output, output_format, record,
            on_iteration=on_iteration, should_stop=should_stop,
        )
        record.after = top_k(checked.logits, self.labels)
        if plan.report_after is not None:
            record.extra.update(plan.report_after(checked.logits))
        record.extra["own_pipeline"] = checked.verified
        record.extra["panel"] = [result.to_dict() for result in checked.panel]
        failed_checks = [f"{result.view} ({result.model})" for result in checked.panel if not result.held]
        record.success = checked.verified and not failed_checks
        record.status = Outcome.PROTECTED if record.success else Outcome.FAILED
        panel = checked.panel
        checks = f"{len(panel) + 1} checks: its own pipeline and {len(panel)} held-out ones"
        if record.success:
            record.verdict = f"Protected: {condition.describe(self.labels)}, on all {checks}"
        else:
            if checked.verified:
                record.reason = (f"{condition.describe(self.labels)} on its own pipeline, but not on "
                                 f"{len(failed_checks)} of {len(panel)} held-out checks: {'; '.join(failed_checks)}")
            else:
                record.reason = (f"not yet true that {condition.describe(self.labels)} "
                                 f"after {record.iterations} iterations")
            record.verdict = f"Not protected: {record.reason}"
        self._measure(record, source.rgb, checked.saved.rgb, budget_l1)
        if "mean_allowance" in record.extra:  # the perceptual budget: mean ΔE00 over mean allowance
            record.budget_used = round(record.delta_e_mean / record.extra["mean_allowance"], 6)
        if record.success:
            destination = output
        elif keep_failed:
            destination, overwrite = failed_output_path(output), True  # a name only PixelGuard writes
        else:
            destination = None
        if destination is not None:
            imageio.write_image(destination, checked.encoded, source.path, overwrite=overwrite)
            if destination.read_bytes() != checked.encoded.data:  # what was verified is what is on disk
                raise imageio.OutputError(f"{destination}: the written file differs from the verified one")
            record.output = str(destination)
        record.seconds = round(time.perf_counter() - started, 3)
        return record

    def _encode_and_check(self, protected, source, output, condition, record, attempt) -> "CheckedOutput":
        """Encode as the file will be written, decode it, and check the condition on the model's
        own pipeline and on the panel."""
        chosen = self.run.output
        encoded = imageio.encode_image(
            imageio.tensor_to_rgb(protected), source, format=chosen.format, jpeg_quality=chosen.jpeg_quality,
            metadata=chosen.metadata, notes=record.notes if attempt == 1 else None,
        )
        saved = imageio.decode_image(encoded, output, max_pixels=source.size[0] * source.size[1])
        saved_logits = self.logits(self.tensor(saved.rgb))
        verified = bool(condition(saved_logits.unsqueeze(0))[0])
        panel = verify_on_panel(self.panel_models, condition, saved.rgb, self.device)
        return CheckedOutput(encoded, saved, saved_logits, verified, panel)

    def _rgb_attempts(self, image, budget, plan, condition, source, output, output_format, record, *,
                      on_iteration, should_stop) -> "CheckedOutput":
        """Algorithm 1's budget at native resolution; a lossy output's real encoder in the loop."""
        loop = self.run.loop
        through = None
        if imageio.is_lossy(output_format):
            def through(candidate: torch.Tensor) -> torch.Tensor:
                rgb = imageio.tensor_to_rgb(candidate)
                options = imageio.encoder_options(output_format, self.run.output.jpeg_quality, source.jpeg_compression)
                return self.tensor(encode_decode(rgb, **options))

        confidence = loop.confidence or robust.DEFAULT_CONFIDENCE
        stop = transfer.confident(condition, loop.confidence)
        if loop.robust:
            stop = robust.stop_condition(condition, confidence)
        generator = torch.Generator().manual_seed(loop.seed)
        start = None
        for attempt in range(1, VERIFY_ATTEMPTS + 1):
            outcome: AttackOutcome = run_attack(
                self.attack_model, image, budget, self._objective(plan, condition, confidence), stop,
                max_iter=loop.max_iter, optimiser=transfer.loop_optimiser(loop), start=start,
                generator=generator, through=through, patience=robust.PATIENCE if loop.robust else 1,
                on_iteration=on_iteration, should_stop=should_stop,
            )
            record.iterations += outcome.iterations
            record.attempts = attempt
            checked = self._encode_and_check(outcome.adversarial, source, output, condition, record, attempt)
            # Only a lossy save can undo what the loop verified; the panel's verdict is reported.
            if checked.verified or not outcome.success:
                break
            start = self.tensor(checked.saved.rgb) - image
        return checked

    def _objective(self, plan, condition, confidence: float):
        """Robust runs push a removal condition's labels past a margin on every view."""
        members = robust.removal_set(condition) if self.run.loop.robust else None
        if members is None or not self.run.method.supports_margin_loss:
            return plan.objective
        return robust.SetMarginObjective(*members, confidence)

    def _perceptual_attempts(self, image, _budget, plan, condition, source, output, output_format, record, *,
                             on_iteration, should_stop) -> "CheckedOutput":
        """The perceptual budget: optimise on a grid no finer than an upload keeps, then apply the
        change at native size within the exact CIEDE2000 allowance. A panel that fails sends the
        loop on from where it stopped with a larger margin."""
        loop, budget_settings = self.run.loop, self.run.budget
        allowance = perceptual.allowance_map(image, budget_settings.max_delta_e, budget_settings.window,
                                             budget_settings.sigma)
        grid = target_size(*image.shape[-2:], "long", robust.UPLOAD_GRID_SIDE)
        work = Resize("long", robust.UPLOAD_GRID_SIDE, "area").apply(image[None])[0]
        budget = perceptual.PerceptualBudget(work, perceptual.shrink_allowance(allowance, grid))
        confidence = loop.confidence or robust.DEFAULT_CONFIDENCE
        optimiser = transfer.loop_optimiser(loop) or Optimiser(lr=robust.LEARNING_RATE)
        generator = torch.Generator().manual_seed(loop.seed)
        start = None
        for attempt in range(1, VERIFY_ATTEMPTS + 1):
            stop = robust.stop_condition(condition, confidence) if loop.robust else condition
            outcome: AttackOutcome = run_attack(
                self.attack_model, work, budget, self._objective(plan, condition, confidence), stop,
                max_iter=loop.max_iter, optimiser=optimiser, start=start, generator=generator,
                patience=robust.PATIENCE if loop.robust else 1,
                on_iteration=on_iteration, should_stop=should_stop,
            )
            record.iterations += outcome.iterations
            record.attempts = attempt
            perturbation = outcome.adversarial - work
            protected = perceptual.to_native(image, perturbation, allowance)
            checked = self._encode_and_check(protected, source, output, condition, record, attempt)
            if (checked.verified and all(result.held for result in checked.panel)) or not outcome.success:
                break
            start = perturbation
            confidence += robust.DEFAULT_CONFIDENCE
        record.extra["max_delta_e"] = budget_settings.max_delta_e
        record.extra["mean_allowance"] = round(float(allowance.mean()), 4)
        return checked

    @staticmethod
    def _measure(record: ProtectionRecord, original: np.ndarray, saved: np.ndarray, budget_l1: float) -> None:
        record.ssim = round(float(metrics.ssim(original, saved)), 6)
        record.psnr = round(float(metrics.psnr(original, saved)), 3)
        stats = metrics.delta_e_stats(original, saved)
        record.delta_e_mean = round(float(stats.mean), 4)
        record.delta_e_p95 = round(float(stats.p95), 4)
        record.delta_e_max = round(float(stats.max), 4)
        record.linf = int(metrics.linf(original, saved))
        change = np.abs(saved.astype(np.int32) - original.astype(np.int32)).sum() / 255
        record.budget_used = round(float(change / budget_l1), 6) if budget_l1 else 0.0
