"""DDPM schedule / add_noise / ancestral step and DDIM step vs diffusers schedulers built from
config (no download); DDIM invariants; CFG by hand; rectified flow vs exact Gaussian transport and
vs diffusers' FlowMatchEulerDiscreteScheduler."""
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, FlowMatchEulerDiscreteScheduler

from snippets import load

dm = load("multimodal/diffusion")
T = 1000


def test_alpha_bar_matches_diffusers_and_hand_values():
    betas, ab = dm.linear_alpha_bar(T)
    ref = DDPMScheduler(num_train_timesteps=T, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)
    torch.testing.assert_close(betas.float(), ref.betas)
    torch.testing.assert_close(ab.float(), ref.alphas_cumprod)
    # by hand: abar_0 = 1 - 1e-4; abar_1 = (1 - 1e-4)(1 - beta_1), beta_1 = 1e-4 + 0.0199/999
    assert abs(ab[0].item() - 0.9999) < 1e-12
    assert abs(ab[1].item() - 0.9999 * (1 - (1e-4 + 0.0199 / 999))) < 1e-12
    assert ab[-1].item() < 5e-5               # x_T is almost pure noise
    # defaults: DDPM's T = 1000, beta from 1e-4 to 0.02
    default_betas, default_ab = dm.linear_alpha_bar()
    assert default_betas.dtype == torch.float64 and default_betas.shape == (1000,)
    torch.testing.assert_close(default_ab, ab, rtol=0, atol=0)


def test_q_sample_matches_diffusers_add_noise():
    torch.manual_seed(0)
    _, ab = dm.linear_alpha_bar(T)
    ref = DDPMScheduler(num_train_timesteps=T, beta_schedule="linear")
    x0, noise = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    t = torch.tensor([0, 10, 500, 999])
    torch.testing.assert_close(dm.q_sample(x0, t, noise, ab), ref.add_noise(x0, noise, t))


def test_ddpm_loss_is_zero_for_an_oracle_and_positive_otherwise():
    torch.manual_seed(0)
    _, ab = dm.linear_alpha_bar(T)
    x0 = torch.zeros(16, 2, dtype=torch.float64)      # data = 0, so x_t = sqrt(1 - abar) eps exactly
    oracle = lambda x_t, t: x_t / (1 - ab[t]).sqrt().view(-1, 1)
    assert dm.ddpm_loss(oracle, x0, ab, torch.Generator().manual_seed(1)).item() < 1e-20
    assert dm.ddpm_loss(lambda x, t: 0 * x, x0, ab, torch.Generator().manual_seed(1)).item() > 0.5



def test_ddpm_loss_is_a_mean_over_uniform_steps_and_follows_the_generator():
    # A model that always answers c: E[(c - eps)^2] = 1 + c^2 per element, so the mean over a
    # large batch is about 1 + c^2 (a sum would be ~ numel times that). The model also sees every
    # step t in {0, ..., T-1}, as long integers, one per example.
    _, ab = dm.linear_alpha_bar(10)
    x0 = torch.randn(20000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    seen = []

    def const(x_t, t):
        seen.append(t)
        return torch.full_like(x_t, 0.5)

    loss = dm.ddpm_loss(const, x0, ab, torch.Generator().manual_seed(1)).item()
    assert abs(loss - 1.25) < 0.03                     # MC std about sqrt(2 + 4 c^2) / sqrt(60000) = 0.007
    (t,) = seen
    assert t.dtype == torch.long and t.shape == (20000,)
    assert sorted(t.unique().tolist()) == list(range(10))
    # the generator drives both draws: same seed, same loss; another seed, another loss
    small = x0[:8]
    same = [dm.ddpm_loss(lambda x, t: 0 * x, small, ab, torch.Generator().manual_seed(3)).item() for _ in range(2)]
    other = dm.ddpm_loss(lambda x, t: 0 * x, small, ab, torch.Generator().manual_seed(4)).item()
    assert same[0] == same[1] != other
    # the noise is drawn in x0's dtype: float64 data gets float64 noise, not float32 noise widened
    # (with x0 = 0, x_t / sqrt(1 - abar_t) is the noise itself)
    got = []
    dm.ddpm_loss(lambda x_t, t: got.append(x_t / (1 - ab[t]).sqrt().view(-1, 1)) or x_t, torch.zeros(64, 4,
                 dtype=torch.float64), ab, torch.Generator().manual_seed(6))
    assert (got[0].float().double() != got[0]).float().mean() > 0.9
    # a model whose output depends on t: the loss changes with the steps drawn, which must come from
    # the generator too, not from the global RNG
    by_step = lambda x, t: t.to(x.dtype).view(-1, 1).expand_as(x)
    torch.manual_seed(0)
    with_gen = dm.ddpm_loss(by_step, small, ab, torch.Generator().manual_seed(3)).item()
    torch.manual_seed(1)
    assert dm.ddpm_loss(by_step, small, ab, torch.Generator().manual_seed(3)).item() == with_gen


@pytest.mark.parametrize("t", [999, 500, 1, 0])
def test_ddpm_step_matches_diffusers(t):
    torch.manual_seed(t)
    betas, ab = dm.linear_alpha_bar(T)
    ref = DDPMScheduler(num_train_timesteps=T, beta_schedule="linear", clip_sample=False)
    x_t, eps = torch.randn(2, 4), torch.randn(2, 4)
    noise = torch.randn(2, 4, generator=torch.Generator().manual_seed(7))
    expected = ref.step(eps, t, x_t, generator=torch.Generator().manual_seed(7)).prev_sample
    # diffusers keeps alpha_bar in float32; near t = 0, beta_t / sqrt(1 - abar_t) amplifies its rounding
    torch.testing.assert_close(dm.ddpm_step(x_t, eps, t, betas, ab, noise), expected, rtol=1e-4, atol=5e-4)


def test_ddim_loop_matches_diffusers_ddim_eta0():
    torch.manual_seed(0)
    _, ab = dm.linear_alpha_bar(T)
    ref = DDIMScheduler(num_train_timesteps=T, beta_schedule="linear", clip_sample=False, set_alpha_to_one=True)
    ref.set_timesteps(10)                          # 900, 800, ..., 0: skips 99 of every 100 steps
    model = lambda x, t: torch.sin(x + t / 100)    # any fixed "network" output
    x_ours = x_ref = torch.randn(3, 5)
    for t in ref.timesteps.tolist():
        prev = t - T // 10
        ab_prev = ab[prev].item() if prev >= 0 else 1.0
        x_ours = dm.ddim_step(x_ours, model(x_ours, t), ab[t].item(), ab_prev)
        x_ref = ref.step(model(x_ref, t), t, x_ref, eta=0.0).prev_sample
        torch.testing.assert_close(x_ours, x_ref, rtol=1e-4, atol=1e-5)


def test_ddim_with_true_noise_lands_exactly_on_the_forward_process():
    # If eps is the noise that produced x_t, one DDIM jump of any size returns q_sample at the target step.
    torch.manual_seed(1)
    _, ab = dm.linear_alpha_bar(T)
    x0, eps = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    x_900 = dm.q_sample(x0, torch.full((4,), 900), eps, ab)
    x_100 = dm.ddim_step(x_900, eps, ab[900].item(), ab[100].item())
    torch.testing.assert_close(x_100, dm.q_sample(x0, torch.full((4,), 100), eps, ab))
    torch.testing.assert_close(dm.ddim_step(x_900, eps, ab[900].item(), 1.0), x0)


def test_ddim_skipping_steps_converges_to_the_exact_probability_flow_map():
    # Data x0 ~ N(m, s^2): the optimal eps-prediction is known in closed form, and the deterministic
    # (probability-flow) map from x_T to x_0 is affine. DDIM (eta = 0) with S of the 1000 steps
    # approaches that map as S grows (max error over 5000 samples: about 0.45, 0.10, 0.03).
    _, ab = dm.linear_alpha_bar(T)
    m, s = 2.0, 0.5
    a_T = ab[999].item()
    def eps_star(x, t):                            # -sqrt(1 - abar) * score of N(sqrt(abar) m, abar s^2 + 1 - abar)
        a = ab[t].item()
        return (1 - a) ** 0.5 * (x - a ** 0.5 * m) / (a * s * s + 1 - a)
    x_T = a_T ** 0.5 * m + (a_T * s * s + 1 - a_T) ** 0.5 * torch.randn(
        5000, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    exact = m + s * (x_T - a_T ** 0.5 * m) / (a_T * s * s + 1 - a_T) ** 0.5
    errors = []
    for stride in (100, 20, 5):                    # 10, 50 and 200 sampling steps
        steps = list(range(999, -1, -stride))
        x = x_T
        for i, t in enumerate(steps):
            ab_prev = ab[steps[i + 1]].item() if i + 1 < len(steps) else 1.0
            x = dm.ddim_step(x, eps_star(x, t), ab[t].item(), ab_prev)
        errors.append((x - exact).abs().max().item())
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] > 0.3 and errors[2] < 0.05, errors


def test_classifier_free_guidance_by_hand():
    u, c = torch.tensor([0.1, -1.0]), torch.tensor([0.3, 1.0])
    torch.testing.assert_close(dm.classifier_free_guidance(u, c, 0.0), u)
    torch.testing.assert_close(dm.classifier_free_guidance(u, c, 1.0), c)
    # s = 7.5: 0.1 + 7.5 * 0.2 = 1.6 ; -1 + 7.5 * 2 = 14
    torch.testing.assert_close(dm.classifier_free_guidance(u, c, 7.5), torch.tensor([1.6, 14.0]))
    # Ho & Salimans' (1 + w) eps_c - w eps_u with w = 6.5 is the same as s = 7.5
    torch.testing.assert_close(dm.classifier_free_guidance(u, c, 7.5), 7.5 * c - 6.5 * u)


def test_rectified_flow_pair_path_and_target():
    x0, x1 = torch.tensor([[0.0, 2.0]]), torch.tensor([[4.0, -2.0]])
    xt, v = dm.rectified_flow_pair(x0, x1, torch.tensor([0.25]))
    torch.testing.assert_close(xt, torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close(v, torch.tensor([[4.0, -4.0]]))


def test_rectified_flow_pair_per_example_time_on_images():
    # one t per example, broadcast over (C, H, W): example b sits at (1 - t_b) x0_b + t_b x1_b
    g = torch.Generator().manual_seed(9)
    x0, x1 = torch.randn(3, 2, 4, 5, generator=g), torch.randn(3, 2, 4, 5, generator=g)
    t = torch.tensor([0.0, 0.5, 0.9])
    xt, v = dm.rectified_flow_pair(x0, x1, t)
    assert xt.shape == (3, 2, 4, 5)
    for b in range(3):
        torch.testing.assert_close(xt[b], (1 - t[b]) * x0[b] + t[b] * x1[b])
    torch.testing.assert_close(v, x1 - x0)


def test_gaussian_velocity_is_the_conditional_mean_of_the_target():
    # Monte Carlo: average (x1 - x0) over pairs whose x_t falls in a thin bin around x.
    torch.manual_seed(3)
    mu, s, t, x = torch.tensor(3.0), torch.tensor(0.5), 0.4, 1.5
    x0, x1 = torch.randn(2_000_000, dtype=torch.float64), 3.0 + 0.5 * torch.randn(2_000_000, dtype=torch.float64)
    xt = (1 - t) * x0 + t * x1
    sel = (xt - x).abs() < 0.01
    mc = (x1 - x0)[sel].mean().item()
    assert abs(mc - dm.gaussian_rf_velocity(torch.tensor(x), t, mu, s).item()) < 0.05


def test_euler_with_exact_velocity_converges_to_exact_gaussian_transport():
    torch.manual_seed(4)
    mu, s = torch.tensor([3.0, -1.0], dtype=torch.float64), torch.tensor([0.5, 2.0], dtype=torch.float64)
    z = torch.randn(1000, 2, dtype=torch.float64)
    target = mu + s * z                           # the ODE's flow map for Gaussians is affine
    v = lambda x, t: dm.gaussian_rf_velocity(x, t, mu, s)
    err = [(dm.euler_sample(v, z, n) - target).abs().max().item() for n in (1, 8, 64, 512)]
    assert err[0] > 1.0 and err[-1] < 0.02        # curved paths: one step is far off
    assert all(a > b for a, b in zip(err, err[1:]))
    # straight (reflowed / deterministic) coupling: velocity constant along paths, one step is exact
    straight = lambda x, t: mu + (s - 1) * (x - t * mu) / (1 - t + t * s)
    torch.testing.assert_close(dm.euler_sample(straight, z, 1), target)


def test_euler_matches_diffusers_flow_match_scheduler():
    # diffusers: x_sigma = sigma * noise + (1 - sigma) * data, model predicts noise - data,
    # sigma goes 1 -> 0. That is our t = 1 - sigma with the velocity negated.
    torch.manual_seed(5)
    mu, s = torch.tensor([3.0, -1.0]), torch.tensor([0.5, 2.0])
    n = 8
    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=T)
    sched.set_timesteps(sigmas=[1 - i / n for i in range(n)])
    z = torch.randn(64, 2)
    x = z.clone()
    for i, ts in enumerate(sched.timesteps):
        sigma = sched.sigmas[i].item()
        model_out = -dm.gaussian_rf_velocity(x, 1 - sigma, mu, s)
        x = sched.step(model_out, ts, x).prev_sample
    ours = dm.euler_sample(lambda y, t: dm.gaussian_rf_velocity(y, t, mu, s), z, n)
    torch.testing.assert_close(ours, x, rtol=1e-5, atol=1e-5)


def test_sd3_shift_matches_diffusers_and_hand_values():
    base = FlowMatchEulerDiscreteScheduler(num_train_timesteps=T, shift=1.0).sigmas
    shifted = FlowMatchEulerDiscreteScheduler(num_train_timesteps=T, shift=3.0).sigmas
    torch.testing.assert_close(dm.shift_sigma(base, 3.0), shifted)
    # by hand: a = sqrt(1024^2 / 512^2) = 2; sigma = 0.5 -> 2 * 0.5 / (1 + 0.5) = 2/3
    assert dm.shift_sigma(torch.tensor(0.5), 2.0).item() == pytest.approx(2 / 3)
    ends = dm.shift_sigma(torch.tensor([0.0, 1.0]), 3.0)
    torch.testing.assert_close(ends, torch.tensor([0.0, 1.0]))          # end points fixed
    mid = torch.linspace(0.05, 0.95, 19)
    assert (dm.shift_sigma(mid, 3.0) > mid).all()                        # more noise in between
    torch.testing.assert_close(dm.shift_sigma(mid, 1.0), mid)           # a = 1: no shift
