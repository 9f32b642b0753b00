"""The settings form, its frozen groups and the methods' declarations they are checked against."""

from __future__ import annotations

import argparse
from dataclasses import FrozenInstanceError, fields

import pytest
import torch

from pixelguard.attacks import METHODS
from pixelguard.attacks.conditions import AllOf, NotInTopK, SemanticMismatch, Top1Margin
from pixelguard.cli.protect import add_settings_arguments, settings_from
from pixelguard.errors import PixelGuardError
from pixelguard.settings import (BudgetSettings, LoopSettings, OutputSettings, ProtectSettings, method_options,
                                 preset_settings)


@pytest.mark.parametrize("group, values, message", [
    (BudgetSettings, {"strength": 0}, "--strength must be above 0"),
    (BudgetSettings, {"kind": "lab"}, "unknown budget"),
    (BudgetSettings, {"window": 4}, "odd whole number"),
    (LoopSettings, {"max_iter": 0}, "--max-iter must be at least 1"),
    (LoopSettings, {"ti": True}, "--ti smooths"),
    (LoopSettings, {"di": True}, "--di and --eot"),
    (OutputSettings, {"jpeg_quality": 0}, "--jpeg-quality"),
    (OutputSettings, {"metadata": "gps"}, "unknown metadata policy"),
])
def test_each_group_is_checked_when_built(group, values, message):
    with pytest.raises(PixelGuardError, match=message):
        group(**values)
    group()  # the defaults are valid


def test_a_built_run_is_frozen_and_holds_the_methods_own_options():
    run = ProtectSettings(method="labelfool", target="tiger cat", condition="target", max_iter=7).build()
    assert run.options == METHODS["labelfool"].options_type(target="tiger cat", privacy_target=False)
    assert run.loop.max_iter == 7 and run.condition == "target" and not run.needs_hierarchy
    with pytest.raises(FrozenInstanceError):
        run.loop.max_iter = 8


def test_every_form_field_belongs_to_exactly_one_place():
    """A field of the form is a run-wide choice, a group's field or a method's option, never two."""
    form = {field.name for field in fields(ProtectSettings)}
    run_wide = {"model", "device", "verify_with", "method", "condition", "label", "k"}
    groups = [{f.name for f in fields(group)} for group in (LoopSettings, OutputSettings)]
    groups.append({f.name for f in fields(BudgetSettings)} - {"kind"} | {"budget"})
    options = set(method_options())
    places = [run_wide, *groups, options]
    assert set().union(*places) == form
    assert sum(len(place) for place in places) == len(form)


def test_the_method_decides_its_default_condition_and_refuses_others():
    assert ProtectSettings().build().condition == "semantic"
    assert ProtectSettings(method="tkmia").build().condition == "tags-hidden"
    with pytest.raises(PixelGuardError, match="tkmia is judged by: tags-hidden"):
        ProtectSettings(method="tkmia", condition="top1").build()
    with pytest.raises(PixelGuardError, match="unknown condition 'top3'"):
        ProtectSettings(condition="top3").build()


def test_a_presets_condition_gives_way_to_the_methods_own():
    assert preset_settings("fast").condition == "top5"
    assert preset_settings("fast", method="tkmia").build().condition == "tags-hidden"
    assert preset_settings("fast", method="labelfool").build().condition == "semantic"


def test_every_declared_option_is_a_flag_and_reaches_the_form():
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    flags = {action.dest for action in parser._actions}
    assert set(method_options()) <= flags
    args = parser.parse_args(["--method", "tkmia", "--hide", "tabby, tiger cat"])
    args.transfer = False
    assert settings_from(args).hide == ("tabby", "tiger cat")
    args = parser.parse_args(["--method", "labelfool", "--target", "tabby", "--privacy-target"])
    args.transfer = False
    settings = settings_from(args)
    assert (settings.target, settings.privacy_target) == ("tabby", True)


def test_conditions_combine_with_and():
    logits = torch.tensor([[0.0, 5.0, 4.0, 3.0], [5.0, 0.0, 4.0, 3.0], [1.0, 9.0, 8.5, 0.0]])
    left_top1 = NotInTopK(0, k=1)
    clear = Top1Margin(0, margin=0.5)
    unrelated = SemanticMismatch(0, frozenset({2}), k=2)
    both = left_top1 & unrelated
    assert isinstance(both, AllOf) and both.name == "top1 & semantic"
    expected = left_top1(logits) & unrelated(logits)
    assert both(logits).tolist() == expected.tolist() == [False, False, False]
    three = left_top1 & clear & unrelated
    assert len(three.parts) == 3 and three.name == "top1 & top1-margin & semantic"
    assert (left_top1 & clear)(logits).tolist() == [True, False, True]
    names = ["a", "b", "c", "d"]
    assert (left_top1 & clear).describe(names) == (
        "'a' is no longer the top prediction, and 'a' is no longer the top prediction and trails it by 50%")
