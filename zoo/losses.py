"""The maths the adversarial families share, as plain functions.

Every loss takes the networks' raw outputs (logits or critic scores) and computes in
float32, whatever autocast produced: the log-sigmoid inside binary cross-entropy and the
squares of the least-squares loss lose too much in bf16/fp16, and the float32 cast is free
next to the networks.

- Non-saturating GAN (Goodfellow et al., NeurIPS 2014, arXiv:1406.2661): binary
  cross-entropy on logits, the generator maximising log D(G(z)) rather than minimising
  log(1 - D(G(z))), whose gradient vanishes while D wins (section 3 of the paper).
- Least-squares GAN (Mao et al., ICCV 2017, arXiv:1611.04076): the (a, b, c) = (0, 1, 1)
  coding that CycleGAN uses.
- Wasserstein GAN (Arjovsky et al., ICML 2017, arXiv:1701.07875) and its gradient penalty
  (Gulrajani et al., NeurIPS 2017, arXiv:1704.00028; reference implementation
  https://github.com/igul222/improved_wgan_training).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def bce_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), averaged; ``softplus`` keeps it finite for any logit."""
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    real_loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real_loss + fake_loss


def bce_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -log D(G(z)), averaged."""
    fake_logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def least_squares_discriminator_loss(real_outputs: torch.Tensor, fake_outputs: torch.Tensor) -> torch.Tensor:
    """LSGAN: 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]."""
    real_outputs, fake_outputs = real_outputs.float(), fake_outputs.float()
    return 0.5 * ((real_outputs - 1).pow(2).mean() + fake_outputs.pow(2).mean())


def least_squares_generator_loss(fake_outputs: torch.Tensor) -> torch.Tensor:
    """LSGAN: 1/2 E[(D(G(z)) - 1)^2]."""
    return 0.5 * (fake_outputs.float() - 1).pow(2).mean()


def wasserstein_estimate(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[f(x)] - E[f(G(z))]: the critic's estimate of the Wasserstein-1 distance (up to its Lipschitz constant)."""
    return real_scores.float().mean() - fake_scores.float().mean()


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The critic minimises E[f(G(z))] - E[f(x)], i.e. maximises the Wasserstein estimate."""
    return -wasserstein_estimate(real_scores, fake_scores)


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator minimises -E[f(G(z))]."""
    return -fake_scores.float().mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    loss_scale: float | torch.Tensor = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP's penalty E[(||grad_x f(x_hat)||_2 - 1)^2] at random points between real and fake samples.

    ``x_hat = e * real + (1 - e) * fake`` with ``e ~ U[0, 1]`` drawn per sample (Gulrajani et
    al., Algorithm 1). The gradient keeps its graph (``create_graph=True``) so the penalty
    trains the critic's parameters.

    Args:
        critic: the network f; called once on the interpolated batch.
        real: a batch of real samples; ``fake`` has the same shape (detach it from the generator).
        fake: a batch of generated samples.
        loss_scale: fp16 mixed precision's current loss scale, a number or the scaler's device tensor
            (``zoo.manual_optimization.loss_scale``, which spares a host sync per step). The
            scores are multiplied by it before differentiating and the gradients divided by it
            after, PyTorch's AMP recipe for gradient penalties: unscaled input gradients can
            underflow in fp16. Leave it at 1 in fp32 and bf16.
        generator: random source for the interpolation weights.
    """
    # Mixed in float32 at least (float64 stays float64), then handed to the critic in the dtype real images reach it
    # in: half under 16-true, where a float32 input would not match the critic's half weights.
    mixing = torch.promote_types(real.dtype, torch.float32)
    weights = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator, device=real.device,
                         dtype=mixing)
    interpolated = weights * real.detach().to(mixing) + (1 - weights) * fake.detach().to(mixing)
    interpolated = interpolated.to(real.dtype).requires_grad_(True)
    scores = critic(interpolated)
    (gradients,) = torch.autograd.grad(scores.float().sum() * loss_scale, interpolated, create_graph=True)
    gradient_norms = (gradients.float() / loss_scale).flatten(1).norm(2, dim=1)
    return (gradient_norms - 1).pow(2).mean()
