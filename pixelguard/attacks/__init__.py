"""Protection methods, one module each, all run by the shared loop in attacks.loop."""

from __future__ import annotations

from pixelguard.attacks.base import AttackPlan, Method, PlanContext
from pixelguard.attacks.cvpire import ColourVarianceMethod
from pixelguard.attacks.labelfool import LabelFoolMethod
from pixelguard.attacks.kaa import KAAMethod
from pixelguard.attacks.tkmia import TkmiaMethod
from pixelguard.attacks.tkml_ap import TopKUntargetedMethod
from pixelguard.errors import PixelGuardError

# --method name -> Method; adding a method is one module and one line here.
METHODS: dict[str, Method] = {method.name: method for method in (ColourVarianceMethod(), LabelFoolMethod(), KAAMethod(),
                                                                  TkmiaMethod(), TopKUntargetedMethod())}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise PixelGuardError(f"unknown method '{name}'; choose one of: {', '.join(METHODS)}") from None


__all__ = ["AttackPlan", "METHODS", "Method", "PlanContext", "get_method"]
