"""What a user can choose for a protection run, checked completely before any photo is touched.

`ProtectSettings` is the form both faces fill (one field per CLI flag). `build()` turns it into
`RunSettings`: frozen groups (budget, loop, output), the chosen method with its own options
dataclass and one of its declared conditions, each group checked when it is built. The engine
reads only `RunSettings`. Kept above the attack methods (it reads their declarations) and below
the pipeline (transfer, protect), which import it.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, fields
from typing import Any, NamedTuple

from pixelguard.attacks import METHODS, Method, PlanContext, get_method
from pixelguard.attacks.objectives import DEFAULT_L1_WEIGHT
from pixelguard.errors import PixelGuardError
from pixelguard.imageio import METADATA_POLICIES, canonical_format
from pixelguard.models import DEFAULT_MODEL
from pixelguard.models.ensembles import ensemble_member_names
from pixelguard.perceptual import DEFAULT_MAX_DELTA_E
from pixelguard.threshold import check_window

# m = 24/255, measured (README "Choosing the strength"): the thesis' 11/255 was set on 256 px
# images; at native resolution the max-scaled map leaves most pixels' budget under one 8-bit
# level, so m = 11/255 failed on half the real photos and m = 24/255 protected all of them
# (top-5, saved PNG) with mean SSIM 0.998.
DEFAULT_STRENGTH = 24 / 255
DEFAULT_MAX_ITER = 100
# Every condition some method can be judged by, the default first (the --condition choices).
CONDITION_NAMES = tuple(dict.fromkeys(name for method in METHODS.values() for name in method.conditions))
LOSSES = ("ce", "margin")
MARGIN_CONDITIONS = ("top1", "top5", "top1-margin")
BUDGETS = ("delta-e", "rgb")
VIEW_MODES = ("robust", "model")


def _choice(value: str, choices, what: str) -> None:
    if value not in choices:
        raise PixelGuardError(f"unknown {what} '{value}'; choose one of: {', '.join(choices)}")


@dataclass(frozen=True)
class BudgetSettings:
    """How much each pixel may change (pixelguard.perceptual, pixelguard.threshold)."""

    kind: str = "delta-e"  # "delta-e": per-pixel CIEDE2000 allowance; "rgb": m * cV per channel
    max_delta_e: float = DEFAULT_MAX_DELTA_E  # the allowance where texture masks most
    strength: float = round(DEFAULT_STRENGTH * 255)  # m, in 8-bit levels (kind "rgb")
    window: int = 5
    sigma: float = 1.0
    relational_mask: bool = False  # limit the budget to the relational pixel mask (KAA+ER)

    def __post_init__(self):
        _choice(self.kind, BUDGETS, "budget")
        if not 0 < self.max_delta_e <= 20:
            raise PixelGuardError(f"--max-delta-e must be above 0 and at most 20 (CIEDE2000), got {self.max_delta_e}")
        if not 0 < self.strength <= 255:
            raise PixelGuardError(f"--strength must be above 0 and at most 255 (8-bit levels), got {self.strength}")
        check_window(self.window, self.sigma)


@dataclass(frozen=True)
class LoopSettings:
    """How the shared loop optimises (pixelguard.attacks.loop, pixelguard.robust, pixelguard.transfer)."""

    max_iter: int = DEFAULT_MAX_ITER
    l1: float = DEFAULT_L1_WEIGHT
    seed: int = 0
    views: str = "robust"  # "robust": many routes to the classifier each step; "model": its own only
    momentum: float = 0.0  # > 0: momentum-iterative sign steps (MI) instead of Adam
    ti: bool = False  # MI only: translation-invariant gradient smoothing
    di: bool = False  # input diversity
    loss: str = "ce"  # "margin": logit-margin loss (methods that support it, top-k conditions)
    confidence: float = 0.0  # the loop goes on until the label trails by this many logits
    eot: bool = False  # expectation over upload transforms (JPEG, downscale, crop)

    def __post_init__(self):
        _choice(self.views, VIEW_MODES, "views")
        _choice(self.loss, LOSSES, "loss")
        if self.robust and (self.di or self.eot):
            raise PixelGuardError("--di and --eot vary the model's own pipeline; the default --views robust already "
                                  "optimises over resizers, crops and uploads: use them with --views model")
        if self.l1 < 0:
            raise PixelGuardError(f"--l1 must be 0 or more, got {self.l1}")
        if self.max_iter < 1:
            raise PixelGuardError(f"--max-iter must be at least 1, got {self.max_iter}")
        if self.momentum < 0:
            raise PixelGuardError(f"--momentum must be 0 or more, got {self.momentum}")
        if self.ti and self.momentum <= 0:
            raise PixelGuardError("--ti smooths the momentum-iterative steps: set --momentum too (or use --transfer)")
        if self.confidence < 0:
            raise PixelGuardError(f"--confidence must be 0 or more, got {self.confidence}")

    @property
    def robust(self) -> bool:
        return self.views == "robust"


@dataclass(frozen=True)
class OutputSettings:
    """How the protected file is written (pixelguard.imageio)."""

    format: str = "keep"
    jpeg_quality: int | None = None  # None: a JPEG original's own tables, else imageio.DEFAULT_JPEG_QUALITY
    metadata: str = "strip"

    def __post_init__(self):
        canonical_format(self.format)
        _choice(self.metadata, METADATA_POLICIES, "metadata policy")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise PixelGuardError(f"--jpeg-quality must be between 1 and 100, got {self.jpeg_quality}")


@dataclass(frozen=True)
class RunSettings:
    """A checked, frozen protection run: what the engine reads."""

    model: str
    device: str
    verify_with: tuple[str, ...]
    method: Method
    condition: str  # one of method.conditions
    options: Any  # an instance of method.options_type
    label: str | None
    k: int
    budget: BudgetSettings
    loop: LoopSettings
    output: OutputSettings

    @property
    def needs_hierarchy(self) -> bool:
        """Whether protecting needs the label hierarchy (which labels are related to which)."""
        return self.method.needs_hierarchy(self.condition, self.options)

    @property
    def margin_applies(self) -> bool:
        """Whether the logit-margin loss fits this method and condition."""
        return margin_applies(self.method, self.condition)

    def label_names(self) -> tuple[str, ...]:
        """Every label name the user typed (--label and the method's label options), to check
        against the model's labels once, before any photo."""
        names = [self.label] if self.label else []
        for each in fields(self.options):
            if each.metadata["names_labels"]:
                value = getattr(self.options, each.name)
                names += list(value) if isinstance(value, tuple) else [value] if value else []
        return tuple(names)

    def plan_context(self, model, labels: list[str], image, clean_logits, budget) -> PlanContext:
        """What the method sees of this run when planning one photo."""
        return PlanContext(model, labels, image, clean_logits, budget, self.condition, self.options, self.label,
                           self.k, self.loop.l1)


def margin_applies(method: Method, condition: str) -> bool:
    return method.supports_margin_loss and condition in MARGIN_CONDITIONS


class MethodOption(NamedTuple):
    """One field of the methods' options (shared by every method that declares it) and its owners."""

    field: Field
    owners: tuple[str, ...]


def method_options() -> dict[str, MethodOption]:
    """Each method option's field name -> its declaration and the methods that declare it (the
    faces' per-method fields)."""
    declared: dict[str, MethodOption] = {}
    for method in METHODS.values():
        for option in fields(method.options_type):
            known = declared.get(option.name)
            declared[option.name] = MethodOption(option, (*known.owners, method.name) if known else (method.name,))
    return declared


@dataclass
class ProtectSettings:
    """The form both faces fill for one protection run (CLI flags, GUI panel); see build()."""

    model: str = DEFAULT_MODEL
    method: str = "cvpire"
    condition: str | None = None  # None: the method's default (its first declared condition)
    label: str | None = None
    device: str = "auto"
    verify_with: tuple[str, ...] = ()  # more models for the held-out panel
    k: int = 5  # top-k cut-off of the semantic condition and of the tag methods
    # BudgetSettings. The perceptual budget (pixelguard.perceptual) and robust optimisation
    # (pixelguard.robust) by default; budget="rgb" with views="model" is Algorithm 1 as
    # published (the Fast preset).
    budget: str = "delta-e"
    max_delta_e: float = DEFAULT_MAX_DELTA_E
    strength: float = round(DEFAULT_STRENGTH * 255)
    window: int = 5
    sigma: float = 1.0
    relational_mask: bool = False
    # LoopSettings (transfer and robustness: `--transfer` sets the published ones).
    max_iter: int = DEFAULT_MAX_ITER
    l1: float = DEFAULT_L1_WEIGHT
    seed: int = 0
    views: str = "robust"
    momentum: float = 0.0
    ti: bool = False
    di: bool = False
    loss: str = "ce"
    confidence: float = 0.0
    eot: bool = False
    # OutputSettings.
    format: str = "keep"
    jpeg_quality: int | None = None
    metadata: str = "strip"
    # The methods' own options (each method's options_type; method_option_names()).
    target: str | None = None  # labelfool
    privacy_target: bool = False  # labelfool
    hide: tuple[str, ...] = ()  # tkmia, tkml-ap

    def build(self) -> RunSettings:
        """Every check that needs no model or photo, as one frozen run; faces call it before any work."""
        method = get_method(self.method)
        condition = self.condition or method.conditions[0]
        if condition not in method.conditions:
            _choice(condition, CONDITION_NAMES, "condition")
            raise PixelGuardError(f"--method {method.name} is judged by: {', '.join(method.conditions)}; "
                                  f"--condition {condition} does not apply to it")
        if self.k < 1:
            raise PixelGuardError(f"--k must be at least 1, got {self.k}")
        ensemble_member_names(self.model)
        loop = LoopSettings(**self._values(LoopSettings))
        if loop.loss == "margin" and not margin_applies(method, condition):
            supported = [name for name, each in METHODS.items() if each.supports_margin_loss]
            raise PixelGuardError(f"--loss margin works with --method {'/'.join(supported)} and the conditions "
                                  f"{', '.join(MARGIN_CONDITIONS)}")
        budget_values = self._values(BudgetSettings, kind="budget")
        return RunSettings(
            model=self.model, device=self.device, verify_with=tuple(self.verify_with), method=method,
            condition=condition, options=method.options_type(**self._values(method.options_type)),
            label=self.label, k=self.k, budget=BudgetSettings(**budget_values), loop=loop,
            output=OutputSettings(**self._values(OutputSettings)),
        )

    def validate(self) -> None:
        self.build()

    def _values(self, group: type, **renamed: str) -> dict:
        """This form's values for a group's fields (`renamed`: group field -> form field)."""
        return {each.name: getattr(self, renamed.get(each.name, each.name)) for each in fields(group)}


# Named settings for both faces; Balanced is the defaults. Figures: README "Presets".
PRESETS: dict[str, dict] = {
    "fast": {"budget": "rgb", "views": "model", "condition": "top5", "max_iter": DEFAULT_MAX_ITER},
    "balanced": {},
    "strong": {"model": "efficientnet-lite0,efficientnet-lite1", "max_delta_e": 4.0, "max_iter": 150},
}


def preset_settings(name: str, **overrides) -> ProtectSettings:
    """ProtectSettings of a preset, with `overrides` on top.

    A preset's condition is a default: it gives way to the method's own when the chosen method
    is not judged by it (Fast's top-5 with the tag methods)."""
    try:
        values = dict(PRESETS[name])
    except KeyError:
        raise PixelGuardError(f"unknown preset '{name}'; choose one of: {', '.join(PRESETS)}") from None
    method = METHODS.get(overrides.get("method", ProtectSettings.method))
    if method is not None and values.get("condition") not in (None, *method.conditions):
        del values["condition"]
    return ProtectSettings(**{**values, **overrides})
