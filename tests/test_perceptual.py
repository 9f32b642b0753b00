"""The perceptual budget: where the allowance goes, and that the saved 8-bit file keeps to it."""

from __future__ import annotations

import pytest
import torch

from pixelguard import imageio, perceptual
from pixelguard.attacks.conditions import NotInTopK
from pixelguard.attacks.loop import run_attack
from pixelguard.colour import delta_e_2000, srgb_to_lab
from pixelguard.robust import SetMarginObjective, set_margin
from test_protect import textured_photo
from test_views import tiny_classifier


def sky_and_texture(size: int = 96) -> torch.Tensor:
    """Left half flat pale sky, right half busy texture: an edge against a flat region."""
    rgb = textured_photo(5, size=(size, size))
    rgb[:, : size // 2] = (200, 215, 235)
    return imageio.rgb_to_tensor(rgb)


def test_flat_photo_gets_the_flat_share_everywhere():
    flat = torch.full((3, 40, 50), 0.5)
    allowance = perceptual.allowance_map(flat, 3.0)
    assert torch.allclose(allowance, torch.full((40, 50), 3.0 * perceptual.FLAT_SHARE))


def test_texture_gets_more_and_an_edge_against_sky_gets_the_skys_share():
    image = sky_and_texture()
    allowance = perceptual.allowance_map(image, 3.0)
    sky = allowance[:, :40]
    edge = allowance[:, 48:50]  # the first texture columns, beside the sky
    inside = allowance[10:-10, 70:-10]
    assert torch.allclose(sky, torch.tensor(0.75))
    assert float(inside.mean()) > 2.0 and float(allowance.max()) <= 3.0 + 1e-6
    # The edge column takes (almost) the flat allowance: no coloured fringe can be painted there.
    assert float(edge.mean()) < 1.2


def test_projection_keeps_each_pixel_within_its_allowance():
    image = sky_and_texture()
    allowance = perceptual.allowance_map(image, 3.0)
    perturbation = (torch.rand(image.shape, generator=torch.Generator().manual_seed(0)) - 0.5) * 0.3
    perceptual.project_(image, perturbation, allowance)
    difference = delta_e_2000(srgb_to_lab(image), srgb_to_lab(image + perturbation))
    assert float((difference / allowance).max()) <= 1.02
    assert float((image + perturbation).min()) >= 0 and float((image + perturbation).max()) <= 1


@pytest.mark.parametrize("seed", range(4))
def test_saved_8_bit_pixels_never_exceed_the_allowance(seed):
    """Exact CIEDE2000 on the rounded pixels, for a coarse-grid perturbation far over budget."""
    image = imageio.rgb_to_tensor(textured_photo(seed, size=(90, 70)))
    allowance = perceptual.allowance_map(image, 2.0)
    coarse = (torch.rand(3, 30, 23, generator=torch.Generator().manual_seed(seed)) - 0.5) * 0.5
    protected = perceptual.to_native(image, coarse, allowance)
    saved = imageio.rgb_to_tensor(imageio.tensor_to_rgb(protected))
    assert torch.equal(saved, protected)  # on the 8-bit grid already
    difference = perceptual.delta_e_map(image, saved)
    assert bool((difference <= allowance).all())
    assert float(difference.mean()) > 0.2  # and it did change the photo


def test_the_loop_keeps_to_the_perceptual_budget_and_pushes_the_label_out():
    model = tiny_classifier()
    image = imageio.rgb_to_tensor(textured_photo(6, size=(64, 64)))
    label = int(model(image[None]).argmax())
    allowance = perceptual.allowance_map(image, 3.0)
    budget = perceptual.PerceptualBudget(image, allowance)
    outcome = run_attack(model, image, budget, SetMarginObjective((label,), 1, 0.5), NotInTopK(label, k=1),
                         max_iter=200)
    ratio = perceptual.delta_e_map(image, outcome.adversarial) / allowance
    # The loop bounds by the local quadratic fit: close for nearly every pixel, exact only on the
    # saved file, which to_native guarantees.
    assert float(ratio.quantile(0.99)) <= 1.15 and float(ratio.max()) <= 3
    saved = perceptual.to_native(image, outcome.adversarial - image, allowance)
    assert bool((perceptual.delta_e_map(image, saved) <= allowance).all())
    assert outcome.success == (int(model(outcome.adversarial[None]).argmax()) != label)


def test_set_margin_is_negative_exactly_when_the_set_is_out_of_the_top_k():
    logits = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    assert float(set_margin(logits, (0,), 1)) > 0
    assert float(set_margin(logits, (4, 5), 3)) < 0  # best of the set is 5th; 3rd outside is 3.0
    assert float(set_margin(logits, (2, 5), 3)) > 0  # 2 is in the top 3
    assert float(set_margin(logits, (2, 5), 2)) < 0  # logsumexp(3, 0) = 3.05 trails 4.0


def test_local_metric_predicts_ciede2000_of_small_changes():
    image = imageio.rgb_to_tensor(textured_photo(8, size=(80, 60)))
    metric = perceptual.local_metric(image)
    change = (torch.rand(image.shape, generator=torch.Generator().manual_seed(1)) - 0.5) * 4 / 255
    change = torch.maximum(torch.minimum(change, 1 - image), -image)
    exact = perceptual.delta_e_map(image, image + change)
    ratio = perceptual.quadratic_delta_e(metric, change)[exact > 0.2] / exact[exact > 0.2]
    # Close for most pixels; where it errs it mostly overestimates (the loop then uses less budget).
    assert abs(float(ratio.median()) - 1) < 0.02 and float(ratio.quantile(0.02)) > 0.6
