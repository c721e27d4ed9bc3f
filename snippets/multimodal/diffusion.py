"""Diffusion and flow matching from scratch: DDPM forward process and ancestral step,
DDIM (eta = 0) step, classifier-free guidance, rectified-flow Euler sampling.

Timesteps are 0-indexed like diffusers: t = 0..T-1, alpha_bar[t] = prod_{s<=t} (1 - beta_s)
(the paper's t = 1..T shifted by one).

Pages: docs/multimodal/diffusion.{zh,en}.md
"""
from __future__ import annotations

from typing import Callable

import torch


# --8<-- [start:forward]
def linear_alpha_bar(
    num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
) -> tuple[torch.Tensor, torch.Tensor]:
    """DDPM's linear beta schedule. Returns (betas, alpha_bar), both (T,) float64."""
    betas = torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
    return betas, torch.cumprod(1.0 - betas, dim=0)


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
             alpha_bar: torch.Tensor) -> torch.Tensor:
    """Jump straight to step t: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.

    x0, noise: (B, ...); t: (B,) long. No loop over steps: q(x_t | x_0) is Gaussian in closed form.
    """
    ab = alpha_bar.to(x0.dtype)[t].view(-1, *([1] * (x0.dim() - 1)))
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def ddpm_loss(eps_model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
              x0: torch.Tensor, alpha_bar: torch.Tensor,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """L_simple: sample t ~ U{0..T-1} and eps ~ N(0, I), regress eps_model(x_t, t) on eps (MSE)."""
    t = torch.randint(0, alpha_bar.shape[0], (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    return (eps_model(q_sample(x0, t, noise, alpha_bar), t) - noise).pow(2).mean()
# --8<-- [end:forward]


# --8<-- [start:sampling]
def ddpm_step(x_t: torch.Tensor, eps: torch.Tensor, t: int, betas: torch.Tensor,
              alpha_bar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """One ancestral DDPM step x_t -> x_{t-1} with sigma_t^2 = beta_tilde (posterior variance).

    mean = (x_t - beta_t / sqrt(1 - abar_t) * eps) / sqrt(alpha_t); no noise is added at t = 0.
    """
    beta, ab = betas[t].item(), alpha_bar[t].item()
    ab_prev = alpha_bar[t - 1].item() if t > 0 else 1.0
    mean = (x_t - beta / (1 - ab) ** 0.5 * eps) / (1 - beta) ** 0.5
    if t == 0:
        return mean
    var = (1 - ab_prev) / (1 - ab) * beta
    return mean + var ** 0.5 * noise


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, ab_t: float, ab_prev: float) -> torch.Tensor:
    """Deterministic DDIM step (eta = 0) from a step with abar = ab_t to any earlier one (ab_prev).

    Predict x0, then re-noise it to level ab_prev with the *same* predicted eps, adding no new noise.
    Because nothing is sampled, ab_prev may be many training steps away: that is why DDIM can skip.
    """
    x0_pred = (x_t - (1 - ab_t) ** 0.5 * eps) / ab_t ** 0.5
    return ab_prev ** 0.5 * x0_pred + (1 - ab_prev) ** 0.5 * eps
# --8<-- [end:sampling]


# --8<-- [start:cfg]
def classifier_free_guidance(eps_uncond: torch.Tensor, eps_cond: torch.Tensor,
                             scale: float) -> torch.Tensor:
    """eps~ = eps_uncond + s * (eps_cond - eps_uncond)   (diffusers' guidance_scale s).

    s = 0: unconditional; s = 1: plain conditional; s > 1: extrapolate past the conditional.
    Ho & Salimans write (1 + w) eps_cond - w eps_uncond, i.e. s = 1 + w.
    """
    return eps_uncond + scale * (eps_cond - eps_uncond)
# --8<-- [end:cfg]


# --8<-- [start:flow]
def rectified_flow_pair(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pair for rectified flow / flow matching with the straight path.

    x0: noise, x1: data, t: (B,) in [0, 1]. Returns (x_t, target velocity) with
    x_t = (1 - t) x0 + t x1 and v = x1 - x0 (constant along each straight segment).
    """
    tt = t.view(-1, *([1] * (x0.dim() - 1)))
    return (1 - tt) * x0 + tt * x1, x1 - x0


def euler_sample(velocity: Callable[[torch.Tensor, float], torch.Tensor],
                 x0: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data) with uniform Euler steps."""
    x, dt = x0, 1.0 / num_steps
    for i in range(num_steps):
        x = x + dt * velocity(x, i * dt)
    return x


def gaussian_rf_velocity(x: torch.Tensor, t: float, mu: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Exact marginal velocity E[x1 - x0 | x_t = x] for x0 ~ N(0, I), x1 ~ N(mu, diag(s^2)),
    drawn independently (the field a perfectly trained flow-matching model would learn).

    With a = 1 - t, b = t: x_t ~ N(b mu, a^2 + b^2 s^2) and
    v*(x, t) = mu + (b s^2 - a) / (a^2 + b^2 s^2) * (x - b mu).
    """
    a, b = 1.0 - t, t
    return mu + (b * s**2 - a) / (a**2 + b**2 * s**2) * (x - b * mu)
def shift_sigma(sigma: torch.Tensor, shift: float) -> torch.Tensor:
    """SD3's resolution-dependent timestep shift: sigma -> a sigma / (1 + (a - 1) sigma).

    sigma in [0, 1] is the noise level (1 = pure noise, diffusers' convention, sigma = 1 - t).
    a > 1 keeps the end points 0 and 1 and moves every intermediate level towards more noise;
    SD3 sets a = sqrt(m / n) for m pixels against a base resolution of n pixels.
    """
    return shift * sigma / (1 + (shift - 1) * sigma)
# --8<-- [end:flow]


if __name__ == "__main__":
    betas, ab = linear_alpha_bar()
    for t in (0, 249, 499, 999):
        print(f"t={t:4d}: sqrt(abar)={ab[t].sqrt().item():.4f}  sqrt(1-abar)={(1 - ab[t]).sqrt().item():.4f}")
    print("CFG s=7.5 on eps_u=0.1, eps_c=0.3 ->", classifier_free_guidance(torch.tensor(0.1), torch.tensor(0.3), 7.5).item())

    torch.manual_seed(0)
    mu, s = torch.tensor([3.0, -1.0]), torch.tensor([0.5, 2.0])
    z = torch.randn(4096, 2)
    target = mu + s * z                                    # exact transport of z (monotone map)
    for n in (1, 4, 32, 256):
        out = euler_sample(lambda x, t: gaussian_rf_velocity(x, t, mu, s), z, n)
        print(f"independent coupling, {n:3d} Euler steps: mean |x - T(z)| = {(out - target).abs().mean():.4f}")
    straight = euler_sample(lambda x, t: mu + (s - 1) * (x - t * mu) / (1 - t + t * s), z, 1)
    print(f"straight (reflowed) coupling, 1 Euler step: mean |x - T(z)| = {(straight - target).abs().mean():.2e}")
    a = ((1024 * 1024) / (512 * 512)) ** 0.5
    print(f"SD3 shift for 1024^2 vs a 512^2 base: a = {a:.0f}; sigma 0.5 -> {shift_sigma(torch.tensor(0.5), a).item():.3f}")
