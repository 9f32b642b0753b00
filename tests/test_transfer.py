"""Transfer techniques and upload transforms: each against a reference, each gradient path checked."""

import io
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage
from scipy.stats import norm

from pixelguard import imageio
from pixelguard.attacks.conditions import NotInTopK
from pixelguard.attacks.loop import Optimiser, run_attack
from pixelguard.errors import PixelGuardError
from pixelguard.batch import Job, protect_batch
from pixelguard.protect import Protector
from pixelguard.attacks.optimisers import MomentumIterative, gaussian_kernel_1d, smooth_gradient, ti_scale
from pixelguard.transfer import ConfidentCondition, Ensemble, InputDiversity, MarginObjective, UploadTransforms, label_margin, random_crop, transfer_preset
from pixelguard.models.ensembles import ensemble_member_names
from test_protect import textured_photo
from toy_models import ToyClassifier, paper_settings


class Recorder(torch.nn.Module):
    """A toy classifier that remembers the inputs it was given."""

    def __init__(self):
        super().__init__()
        self.toy = ToyClassifier()
        self.labels = self.toy.labels
        self.seen = []

    def forward(self, images):
        self.seen.append(images.detach().clone())
        return self.toy(images)


def photo_tensor(seed=1, size=(48, 40)) -> torch.Tensor:
    return imageio.rgb_to_tensor(textured_photo(seed, size))


def test_ensemble_averages_logits_and_refuses_mixed_labels():
    first, second = ToyClassifier(), ToyClassifier()
    second.weight.data = torch.flip(second.weight.data, dims=[0])
    images = photo_tensor().unsqueeze(0)
    ensemble = Ensemble([first, second])
    assert torch.allclose(ensemble(images), (first(images) + second(images)) / 2)
    assert ensemble.labels == first.labels
    with pytest.raises(PixelGuardError, match="different labels"):
        Ensemble([first, ToyClassifier(classes=7)])


def test_ensemble_names():
    assert ensemble_member_names("imagenet-ensemble") == ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]
    assert ensemble_member_names(" a, b ") == ["a", "b"]
    assert ensemble_member_names("efficientnet-lite0") == ["efficientnet-lite0"]
    with pytest.raises(PixelGuardError, match="twice"):
        ensemble_member_names("a,a")


def test_input_diversity_pads_a_resized_copy_and_passes_gradients():
    recorder = Recorder()
    diverse = InputDiversity(recorder, probability=1.0, seed=3, working_size=32)
    images = photo_tensor(size=(48, 40)).unsqueeze(0).requires_grad_(True)  # H=40, W=48
    for _ in range(10):
        diverse(images).sum().backward()
    base = (32, round(48 * 32 / 40))
    canvas = (math.ceil(base[0] * 1.1), math.ceil(base[1] * 1.1))
    sizes = set()
    for seen in recorder.seen:
        assert seen.shape[-2:] == canvas
        content = (seen[0].abs().sum(dim=0) > 0)
        rows, cols = content.any(dim=1).nonzero(), content.any(dim=0).nonzero()
        height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert base[0] <= height <= canvas[0] and base[1] <= width <= canvas[1]
        sizes.add((height, width, int(rows.min()), int(cols.min())))
    assert len(sizes) > 1  # random sizes and offsets
    assert images.grad.abs().sum() > 0
    recorder.seen.clear()
    InputDiversity(recorder, probability=0.0)(images)
    assert torch.equal(recorder.seen[0], images.detach())


def test_upload_transforms_average_the_views_and_pass_gradients():
    recorder = Recorder()
    eot = UploadTransforms(recorder, seed=1)
    images = photo_tensor(size=(64, 48)).unsqueeze(0).requires_grad_(True)
    logits = eot(images)
    assert len(recorder.seen) == 4
    assert torch.equal(recorder.seen[0], images.detach())  # the photo as saved is always one view
    expected = torch.stack([recorder.toy(view) for view in recorder.seen]).mean(dim=0)
    assert torch.allclose(logits, expected)
    logits.sum().backward()
    assert images.grad.abs().sum() > 0


def test_random_crop_keeps_at_least_ninety_percent_of_each_side():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(1, 3, 100, 50)
    for _ in range(20):
        crop = random_crop(images, generator)
        assert 90 <= crop.shape[-2] <= 100 and 45 <= crop.shape[-1] <= 50


def test_ti_kernel_is_the_published_gaussian_and_smoothing_matches_scipy():
    kernel = gaussian_kernel_1d()
    reference = norm.pdf(np.linspace(-3, 3, 5))
    assert np.allclose(kernel.numpy(), reference / reference.sum(), atol=1e-7)
    assert gaussian_kernel_1d(4.8).numel() == 25
    gradient = torch.randn(3, 20, 17, dtype=torch.float64)
    smoothed = smooth_gradient(gradient, kernel.double())
    kernel_2d = np.outer(kernel.numpy(), kernel.numpy())
    for channel in range(3):
        expected = ndimage.convolve(gradient[channel].numpy(), kernel_2d, mode="constant")
        assert np.allclose(smoothed[channel].numpy(), expected, atol=1e-7)
    assert ti_scale(torch.Size([3, 1080, 1920])) == pytest.approx(1080 / 224)
    assert ti_scale(torch.Size([3, 100, 100])) == 1.0


def test_momentum_iterative_follows_mi_fgsm():
    target = torch.tensor([0.3, -0.2, 0.5, 0.0])
    parameter = torch.zeros(4, requires_grad=True)
    optimiser = MomentumIterative([parameter], lr=0.01, momentum=1.0)
    reference, velocity = torch.zeros(4), torch.zeros(4)
    for _ in range(5):
        loss = ((parameter - target) ** 2 * torch.tensor([1.0, 10.0, 0.1, 1.0])).sum()
        optimiser.zero_grad()
        loss.backward()
        gradient = 2 * (reference - target) * torch.tensor([1.0, 10.0, 0.1, 1.0])
        velocity = velocity + gradient / gradient.abs().mean()
        reference = reference - 0.01 * velocity.sign()
        optimiser.step()
        assert torch.allclose(parameter.detach(), reference)


def test_optimiser_mi_kind_drives_the_loop():
    stepper = Optimiser(kind="mi", lr=2 / 255, momentum=1.0, translation_invariant=True).build(
        torch.zeros(3, 8, 8, requires_grad=True))
    assert isinstance(stepper, MomentumIterative)
    model = ToyClassifier()
    image = photo_tensor()
    label = int(model(image.unsqueeze(0)).argmax())
    outcome = run_attack(model, image, torch.full(image.shape[1:], 16 / 255),
                         MarginObjective(label, 1, budget_l1=1.0), NotInTopK(label, k=1), max_iter=60,
                         optimiser=Optimiser(kind="mi", lr=2 / 255, momentum=1.0, translation_invariant=True))
    assert outcome.success


def test_label_margin_is_negative_exactly_when_the_condition_holds():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 12, generator=generator)
    for rank in (1, 3, 5):
        condition = NotInTopK(4, k=rank)
        assert torch.equal(label_margin(logits, 4, rank) < 0, condition(logits))
    confident = ConfidentCondition(4, NotInTopK(4, k=1), rank=1, confidence=1.0)
    margin = label_margin(logits, 4, 1)
    assert torch.equal(confident(logits), margin <= -1.0)


def test_settings_validation_and_preset():
    with pytest.raises(PixelGuardError, match="--ti"):
        paper_settings(ti=True).validate()
    with pytest.raises(PixelGuardError, match="margin"):
        paper_settings(loss="margin", method="labelfool").validate()
    preset = transfer_preset(paper_settings())
    assert (preset.momentum, preset.ti, preset.di, preset.loss, preset.max_iter) == (1.0, True, True, "margin", 300)
    preset.validate()
    assert transfer_preset(paper_settings(condition="semantic")).loss == "ce"


def test_protector_with_transfer_options_reports_robustness(tmp_path):
    Image.fromarray(textured_photo(1)).save(tmp_path / "a.png")
    # DI and EOT are left out: the toy's 4x4 pooling makes padded or cropped copies different photos.
    settings = replace(transfer_preset(paper_settings(model="toy", device="cpu", condition="top1", strength=16,
                                                       confidence=1.0)), di=False, max_iter=40)
    protector = Protector(settings, model=ToyClassifier())
    record = next(protect_batch([Job(tmp_path / "a.png", tmp_path / "out.png")], protector))
    assert record.success
    saved = imageio.load_image(tmp_path / "out.png").rgb
    label = protector.labels.index(record.label)
    buffer = io.BytesIO()
    Image.fromarray(saved).save(buffer, format="JPEG", quality=75)
    reencoded = imageio.rgb_to_tensor(np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")))
    # The toy takes whole photos, so its held-out panel is the upload (JPEG q75; a small photo is not shrunk).
    [check] = record.extra["panel"]
    assert check["view"].startswith("upload") and check["held"] == (
        int(protector.model(reencoded.unsqueeze(0)).argmax()) != label)
    logits = protector.model(imageio.rgb_to_tensor(saved).unsqueeze(0))
    assert float(label_margin(logits, label, 1)) < 0
