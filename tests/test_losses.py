"""The adversarial losses and the gradient penalty against their closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zoo.losses import (
    bce_discriminator_loss,
    bce_generator_loss,
    gradient_penalty,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
    wasserstein_critic_loss,
    wasserstein_estimate,
    wasserstein_generator_loss,
)


def test_bce_losses_match_the_papers_log_formulas():
    real_logits, fake_logits = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sigmoid = torch.sigmoid
    expected_d = -(torch.log(sigmoid(real_logits)).mean() + torch.log(1 - sigmoid(fake_logits)).mean())
    expected_g = -torch.log(sigmoid(fake_logits)).mean()
    assert bce_discriminator_loss(real_logits, fake_logits) == pytest.approx(expected_d.item(), rel=1e-6)
    assert bce_generator_loss(fake_logits) == pytest.approx(expected_g.item(), rel=1e-6)


def test_bce_losses_stay_finite_for_confident_bf16_logits():
    confident = torch.tensor([80.0, -80.0], dtype=torch.bfloat16)
    assert torch.isfinite(bce_discriminator_loss(confident, -confident))
    assert bce_generator_loss(torch.tensor([-80.0], dtype=torch.bfloat16)) == pytest.approx(80.0)


def test_the_generator_loss_does_not_saturate_when_the_discriminator_rejects_its_samples():
    """Goodfellow et al., section 3: log(1 - D(G(z))) has no gradient when D is sure; -log D(G(z)) does."""
    fake_logits = torch.tensor([-10.0], requires_grad=True)
    (gradient,) = torch.autograd.grad(bce_generator_loss(fake_logits), fake_logits)
    assert gradient.item() == pytest.approx(-1.0, abs=1e-4)
    saturating = torch.log(1 - torch.sigmoid(fake_logits))
    (saturating_gradient,) = torch.autograd.grad(saturating.sum(), fake_logits)
    assert abs(saturating_gradient.item()) < 1e-4


def test_least_squares_losses_take_their_closed_form_values():
    ones, zeros = torch.ones(4), torch.zeros(4)
    assert least_squares_discriminator_loss(ones, zeros) == 0  # a perfect discriminator
    assert least_squares_discriminator_loss(zeros, ones) == pytest.approx(1.0)
    assert least_squares_generator_loss(ones) == 0
    assert least_squares_generator_loss(zeros) == pytest.approx(0.5)


def test_wasserstein_losses_are_differences_of_mean_scores():
    real_scores, fake_scores = torch.tensor([3.0, 1.0]), torch.tensor([0.5, -0.5])
    assert wasserstein_estimate(real_scores, fake_scores) == pytest.approx(2.0)
    assert wasserstein_critic_loss(real_scores, fake_scores) == pytest.approx(-2.0)
    assert wasserstein_generator_loss(fake_scores) == pytest.approx(0.0)


def _linear_critic(weight: torch.Tensor) -> nn.Linear:
    critic = nn.Linear(weight.numel(), 1)
    with torch.no_grad():
        critic.weight.copy_(weight.view(1, -1))
        critic.bias.fill_(0.7)
    return critic


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one_squared():
    # f(x) = w.x + b has gradient w everywhere, so the penalty is (||w|| - 1)^2 wherever it looks.
    weight = torch.tensor([2.0, -2.0, 1.0, 0.0])  # ||w|| = 3
    critic = _linear_critic(weight)
    real, fake = torch.randn(8, 4), torch.randn(8, 4)
    penalty = gradient_penalty(lambda x: critic(x).squeeze(1), real, fake)
    assert penalty.item() == pytest.approx(4.0, rel=1e-6)

    # create_graph: the penalty trains the critic, d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||.
    penalty.backward()
    assert torch.allclose(critic.weight.grad.view(-1), 2 * (3 - 1) * weight / 3)


def test_gradient_penalty_is_taken_per_sample():
    # f(x) = ||x||^2 / 2 has gradient x; with real == fake the interpolation is x itself.
    points = torch.tensor([[3.0, 4.0], [0.6, 0.8]])  # norms 5 and 1
    penalty = gradient_penalty(lambda x: 0.5 * x.pow(2).sum(1), points, points)
    assert penalty.item() == pytest.approx(((5 - 1) ** 2 + 0) / 2)


def test_gradient_penalty_is_the_same_under_an_fp16_loss_scale():
    critic = _linear_critic(torch.tensor([0.3, 0.4, 0.0, 1.2]))
    real, fake = torch.randn(8, 4), torch.randn(8, 4)
    unscaled = gradient_penalty(lambda x: critic(x).squeeze(1), real, fake, generator=torch.Generator().manual_seed(0))
    scaled = gradient_penalty(lambda x: critic(x).squeeze(1), real, fake, loss_scale=2.0**16,
                              generator=torch.Generator().manual_seed(0))
    assert scaled.item() == pytest.approx(unscaled.item(), rel=1e-6)
    assert unscaled.item() == pytest.approx((math.sqrt(0.09 + 0.16 + 1.44) - 1) ** 2, rel=1e-5)
