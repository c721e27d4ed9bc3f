"""Adam / AdamW steps vs torch.optim; warm-up + cosine vs torch.optim.lr_scheduler composition."""
import math

import pytest
import torch

from snippets import load

opt = load("foundations/optimizers")


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_and_adamw_match_torch_over_several_steps(decoupled):
    torch.manual_seed(0)
    p_ref = torch.nn.Parameter(torch.randn(5, 3, dtype=torch.float64))
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    ref = cls([p_ref], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    p, m, v = p_ref.detach().clone(), torch.zeros_like(p_ref), torch.zeros_like(p_ref)
    for t in range(1, 6):
        g = torch.randn_like(p)
        p_ref.grad = g.clone()
        ref.step()
        p, m, v = opt.adam_step(p, g, m, v, t, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1, decoupled=decoupled)
        torch.testing.assert_close(p, p_ref.detach())


def test_adam_first_step_is_lr_times_sign():
    # With bias correction, the first Adam step is lr * g / (|g| + eps): about lr * sign(g).
    p, g = torch.tensor([1.0, 1.0]), torch.tensor([1e-4, -50.0])
    p1, _, _ = opt.adam_step(p, g, torch.zeros(2), torch.zeros(2), 1, lr=0.1, eps=0.0)
    torch.testing.assert_close(p1, torch.tensor([0.9, 1.1]))


def test_adam_step_after_a_lone_spike_matches_kingma_ba_bound():
    # Kingma & Ba, section 2.1: if a coordinate's gradient was 0 at every earlier step, a single
    # spike moves it by lr * (1 - b1) / sqrt(1 - b2) (large t): ~3.16 lr at b2 = 0.999, ~0.45 lr at 0.95.
    t = 10_000
    for b2 in (0.999, 0.95):
        p1, _, _ = opt.adam_step(torch.zeros(1), torch.tensor([50.0]), torch.zeros(1), torch.zeros(1), t,
                                 lr=1.0, betas=(0.9, b2), eps=0.0)
        assert float(-p1) == pytest.approx(0.1 / math.sqrt(1 - b2), rel=1e-3)


def test_warmup_cosine_matches_sequential_lr():
    max_lr, min_lr, warmup, total = 1.0, 0.1, 10, 60
    p = torch.nn.Parameter(torch.zeros(1))
    o = torch.optim.SGD([p], lr=max_lr)
    sched = torch.optim.lr_scheduler.SequentialLR(o, schedulers=[
        torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1),
        torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total - warmup, eta_min=min_lr),
    ], milestones=[warmup])
    for step in range(total):
        assert o.param_groups[0]["lr"] == pytest.approx(opt.warmup_cosine_lr(step, max_lr, warmup, total, min_lr))
        o.step()
        sched.step()


def test_schedule_endpoints_by_hand():
    assert opt.warmup_cosine_lr(0, 3e-4, 100, 1000) == pytest.approx(3e-6)
    assert opt.warmup_cosine_lr(99, 3e-4, 100, 1000) == pytest.approx(3e-4)
    assert opt.warmup_cosine_lr(550, 3e-4, 100, 1000, 0.0) == pytest.approx(1.5e-4)   # halfway: cos(pi/2) = 0
    assert opt.warmup_cosine_lr(1000, 3e-4, 100, 1000, 3e-5) == pytest.approx(3e-5)


def _matrix_with_singular_values(m: int, n: int, svals: torch.Tensor, seed: int) -> tuple:
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(m, m, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    r = len(svals)
    return u[:, :r] @ torch.diag(svals) @ v[:, :r].T, u[:, :r], v[:, :r]


@pytest.mark.parametrize("shape", [(16, 48), (48, 16)])
def test_cubic_newton_schulz_converges_to_svd_polar_factor(shape):
    m, n = shape
    svals = torch.logspace(0, -2, min(m, n), dtype=torch.float64) * 7.0   # condition number 100
    g, u, v = _matrix_with_singular_values(m, n, svals, seed=1)
    # oracle: U V^T from torch.linalg.svd of the same matrix
    U, _, Vh = torch.linalg.svd(g, full_matrices=False)
    polar = U @ Vh
    out = opt.newton_schulz(g, steps=60, coeffs=(1.5, -0.5, 0.0))
    torch.testing.assert_close(out, polar, atol=1e-8, rtol=0)
    torch.testing.assert_close(polar, u @ v.T, atol=1e-8, rtol=0)   # the construction agrees


def test_quintic_keeps_singular_vectors_and_lands_near_one():
    svals = torch.logspace(0, -2, 32, dtype=torch.float64)
    g, u, v = _matrix_with_singular_values(32, 96, svals, seed=2)
    out = opt.newton_schulz(g, steps=5)
    core = u.T @ out @ v                                   # should be diagonal: same U and V as g
    off = core - torch.diag(torch.diagonal(core))
    assert off.abs().max() < 1e-8
    d = torch.diagonal(core)
    assert d.min() > 0.5 and d.max() < 1.5                  # not exactly 1, but flattened
    assert d.max() / d.min() < 2.0                          # the input's condition number was 100
    # the raw singular values did not matter: the spread shrinks from 100x to < 2x
    assert torch.allclose(torch.linalg.svdvals(out).sort().values, d.sort().values, atol=1e-8)


def test_muon_step_rms_and_weight_decay():
    torch.manual_seed(0)
    w = torch.randn(64, 256, dtype=torch.float64)
    grad = torch.randn(64, 256, dtype=torch.float64)
    buf = torch.zeros_like(w)
    w_new, buf_new = opt.muon_step(w, grad, buf, lr=0.1, momentum=0.95, weight_decay=0.0)
    torch.testing.assert_close(buf_new, grad)
    update = (w - w_new) / 0.1
    rms = update.pow(2).mean().sqrt()
    assert 0.13 < rms < 0.23                               # about 0.2 * (singular values near 1)
    # zero gradient: only decoupled weight decay acts, w <- w (1 - lr wd)
    w2, _ = opt.muon_step(w, torch.zeros_like(w), torch.zeros_like(w), lr=0.1, weight_decay=0.1)
    torch.testing.assert_close(w2, w * (1 - 0.01))


def test_qk_clip_caps_max_logit_at_tau_and_leaves_small_heads_alone():
    torch.manual_seed(0)
    x = torch.randn(10, 32, dtype=torch.float64)
    w_q, w_k = 3 * torch.randn(8, 32, dtype=torch.float64), 3 * torch.randn(8, 32, dtype=torch.float64)
    max_logit = lambda a, b: float(((x @ a.T) @ (x @ b.T).T).max()) / 8 ** 0.5   # noqa: E731
    before = max_logit(w_q, w_k)
    assert before > 50
    q2, k2 = opt.qk_clip(w_q, w_k, x, tau=50.0)
    assert abs(max_logit(q2, k2) - 50.0) < 1e-9             # logits are bilinear in (W_q, W_k)
    # the factor is split evenly: each matrix is scaled by sqrt(tau / S_max)
    torch.testing.assert_close(q2, w_q * (50.0 / before) ** 0.5)
    torch.testing.assert_close(k2, w_k * (50.0 / before) ** 0.5)
    q3, k3 = opt.qk_clip(w_q, w_k, x, tau=10 * before)
    torch.testing.assert_close(q3, w_q)
    torch.testing.assert_close(k3, w_k)


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_eps_outside_the_sqrt_with_tiny_gradients(decoupled):
    """Gradients of 1e-9 make sqrt(v_hat) ~ 1e-9 < eps = 1e-8: eps outside the root dominates the step,
    eps inside the root (sqrt(v_hat + eps) ~ 1e-4) would shrink it ~10,000x. Oracle: torch.optim."""
    torch.manual_seed(1)
    p_ref = torch.nn.Parameter(torch.randn(6, dtype=torch.float64))
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    ref = cls([p_ref], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    p, m, v = p_ref.detach().clone(), torch.zeros(6, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    for t in range(1, 4):
        g = 1e-9 * torch.randn(6, dtype=torch.float64)
        p_ref.grad = g.clone()
        ref.step()
        p, m, v = opt.adam_step(p, g, m, v, t, lr=1e-3, eps=1e-8, decoupled=decoupled)
        torch.testing.assert_close(p, p_ref.detach(), rtol=0, atol=1e-15)
    # step 1 by hand: m_hat = g, sqrt(v_hat) = |g| -> step = lr * g / (|g| + eps)
    g = torch.tensor([1e-8, -3e-8], dtype=torch.float64)
    p1, _, _ = opt.adam_step(torch.zeros(2, dtype=torch.float64), g, torch.zeros(2, dtype=torch.float64),
                             torch.zeros(2, dtype=torch.float64), 1, lr=1.0, eps=1e-8)
    torch.testing.assert_close(p1, torch.tensor([-0.5, 0.75], dtype=torch.float64))   # 1/(1+1), 3/(3+1)


def test_adam_l2_vs_adamw_decay_by_hand_first_step():
    # p = [10, 0.01], g = [1, 1], lr 0.1, wd 0.1, eps 0.
    # Adam + L2: g' = g + 0.1 p = [2, 1.001]; first step moves lr * sign = 0.1 each -> [9.9, -0.09]
    # AdamW: p (1 - 0.01) = [9.9, 0.0099], then - 0.1 * sign(g) -> [9.8, -0.0901]
    p0, g, z = torch.tensor([10.0, 0.01], dtype=torch.float64), torch.ones(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    pa, _, _ = opt.adam_step(p0, g, z, z, 1, lr=0.1, eps=0.0, weight_decay=0.1)
    pw, _, _ = opt.adam_step(p0, g, z, z, 1, lr=0.1, eps=0.0, weight_decay=0.1, decoupled=True)
    torch.testing.assert_close(pa, torch.tensor([9.9, -0.09], dtype=torch.float64))
    torch.testing.assert_close(pw, torch.tensor([9.8, -0.0901], dtype=torch.float64))


def test_muon_nesterov_two_steps_against_torch_optim_muon():
    """torch.optim.Muon (EMA momentum via lerp, bf16 Newton-Schulz) differs from the snippet only by a
    constant factor (1 - momentum) on the buffer and update, which the Frobenius normalisation removes;
    with adjust_lr_fn='match_rms_adamw' the scaled learning rate is lr * 0.2 * sqrt(max(m, n))."""
    torch.manual_seed(3)
    w0 = torch.randn(24, 40)
    grads = [torch.randn(24, 40), torch.randn(24, 40)]
    p = torch.nn.Parameter(w0.clone())
    ref = torch.optim.Muon([p], lr=0.05, weight_decay=0.1, momentum=0.9, adjust_lr_fn="match_rms_adamw")
    w, buf = w0.clone(), torch.zeros_like(w0)
    for g in grads:
        p.grad = g.clone()
        ref.step()
        w, buf = opt.muon_step(w, g, buf, lr=0.05, momentum=0.9, weight_decay=0.1)
    rel = (w - p.detach()).norm() / (w0 - p.detach()).norm()
    assert rel < 0.03                                              # bf16 in torch: agreement to a few %
    # and a hand reference in float64 with the snippet's own (separately tested) newton_schulz
    w, buf = w0.double(), torch.zeros(24, 40, dtype=torch.float64)
    b_ref, w_ref = buf.clone(), w.clone()
    for g in grads:
        g = g.double()
        w, buf = opt.muon_step(w, g, buf, lr=0.05, momentum=0.9, weight_decay=0.1)
        b_ref = 0.9 * b_ref + g
        w_ref = w_ref * (1 - 0.05 * 0.1) - 0.05 * 0.2 * 40 ** 0.5 * opt.newton_schulz(g + 0.9 * b_ref)
    torch.testing.assert_close(w, w_ref)
    torch.testing.assert_close(buf, b_ref)


def test_qk_clip_leaves_a_head_with_only_negative_logits_alone():
    # one token and W_k = -W_q: the only logit is -|W_q x|^2 / sqrt(d) < 0, nothing to clip
    torch.manual_seed(4)
    x = torch.randn(1, 8, dtype=torch.float64)
    w_q = torch.randn(4, 8, dtype=torch.float64)
    q2, k2 = opt.qk_clip(w_q, -w_q, x, tau=1.0)
    torch.testing.assert_close(q2, w_q)
    torch.testing.assert_close(k2, -w_q)


def test_adam_defaults_match_torch_optim_adam_defaults():
    # the page's defaults are PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay
    torch.manual_seed(5)
    p_ref = torch.nn.Parameter(torch.randn(7, dtype=torch.float64))
    ref = torch.optim.Adam([p_ref])
    p, m, v = p_ref.detach().clone(), torch.zeros(7, dtype=torch.float64), torch.zeros(7, dtype=torch.float64)
    for t in range(1, 4):
        g = torch.randn(7, dtype=torch.float64)
        p_ref.grad = g.clone()
        ref.step()
        p, m, v = opt.adam_step(p, g, m, v, t)
        torch.testing.assert_close(p, p_ref.detach(), rtol=0, atol=1e-12)


def test_schedule_default_min_lr_is_zero_and_stays_flat_after_total_steps():
    assert opt.warmup_cosine_lr(1000, 3e-4, 100, 1000) == pytest.approx(0.0, abs=1e-15)   # default min_lr 0
    assert opt.warmup_cosine_lr(775, 1.0, 100, 1000) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.75)))
    # past total_steps the cosine is clamped at its end, it does not climb back up
    for step in (1001, 1450, 1900, 5000):
        assert opt.warmup_cosine_lr(step, 3e-4, 100, 1000, 3e-5) == pytest.approx(3e-5)


def test_schedule_with_a_single_decay_step():
    # total_steps = warmup_steps + 1: the one decay step is the whole cosine, max_lr -> min_lr
    assert opt.warmup_cosine_lr(2, 1.0, 2, 3, 0.1) == pytest.approx(1.0)
    assert opt.warmup_cosine_lr(3, 1.0, 2, 3, 0.1) == pytest.approx(0.1)
    assert opt.warmup_cosine_lr(1, 1.0, 0, 1, 0.1) == pytest.approx(0.1)


def test_newton_schulz_normalises_by_the_frobenius_norm_and_is_scale_invariant():
    gen = torch.Generator().manual_seed(6)
    g = torch.randn(12, 20, generator=gen, dtype=torch.float64)
    for scale in (1e-5, 1e-3, 0.3, 1.0, 50.0):
        x0 = opt.newton_schulz(scale * g, steps=0)          # no iteration: just the normalised input
        torch.testing.assert_close(x0, g / g.norm(), rtol=2e-2, atol=0)
        assert float(torch.linalg.matrix_norm(x0, ord=2)) <= 1.0    # singular values in (0, 1]
        assert float(x0.norm()) <= 1.0
    torch.testing.assert_close(opt.newton_schulz(0.3 * g, steps=0), g / g.norm(), rtol=1e-6, atol=0)
    torch.testing.assert_close(opt.newton_schulz(50.0 * g, steps=0), g / g.norm(), rtol=1e-8, atol=0)
    # the polar factor does not depend on the gradient's scale
    torch.testing.assert_close(opt.newton_schulz(g), opt.newton_schulz(1e3 * g), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(opt.newton_schulz(torch.zeros(3, 4)), torch.zeros(3, 4))   # no NaN


@pytest.mark.parametrize("shape", [(40, 6), (6, 40)])
def test_newton_schulz_iterates_on_the_small_gram(shape):
    """The comment's contract: a tall matrix is transposed so X X^T is min(m, n) square, never
    max(m, n) square. Oracle: the shapes of every tensor the function creates (TorchFunctionMode)."""
    from torch.overrides import TorchFunctionMode

    shapes = []

    class Record(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if isinstance(out, torch.Tensor):
                shapes.append(tuple(out.shape))
            return out

    g = torch.randn(*shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    with Record():
        out = opt.newton_schulz(g, steps=3)
    assert out.shape == g.shape
    assert (6, 6) in shapes and (40, 40) not in shapes
    U, _, Vh = torch.linalg.svd(g, full_matrices=False)
    torch.testing.assert_close(opt.newton_schulz(g, steps=60, coeffs=(1.5, -0.5, 0.0)), U @ Vh, atol=1e-6, rtol=0)


def test_muon_defaults_by_hand():
    # defaults: lr 0.02, Nesterov momentum 0.95, no weight decay, RMS match 0.2 (Keller Jordan's Muon)
    torch.manual_seed(8)
    w, g, buf = (torch.randn(8, 18, dtype=torch.float64) for _ in range(3))
    w1, b1 = opt.muon_step(w, g, buf)
    b_ref = 0.95 * buf + g
    torch.testing.assert_close(b1, b_ref)
    w_ref = w - 0.02 * 0.2 * 18 ** 0.5 * opt.newton_schulz(g + 0.95 * b_ref)
    torch.testing.assert_close(w1, w_ref)


def test_qk_clip_all_zero_logits_and_a_max_logit_below_one():
    torch.manual_seed(9)
    w_q, w_k = torch.randn(4, 8, dtype=torch.float64), torch.randn(4, 8, dtype=torch.float64)
    # all logits 0 (zero input): S_max = 0, nothing to clip and no division by zero
    q, k = opt.qk_clip(w_q, w_k, torch.zeros(3, 8, dtype=torch.float64), tau=1.0)
    torch.testing.assert_close(q, w_q)
    torch.testing.assert_close(k, w_k)
    # a small positive S_max (< 1) above a smaller tau is still clipped to exactly tau
    x = 0.05 * torch.randn(5, 8, dtype=torch.float64)
    s_max = float(((x @ w_q.T) @ (x @ w_k.T).T).max()) / 2.0
    assert 0 < s_max < 1
    tau = s_max / 4
    q, k = opt.qk_clip(w_q, w_k, x, tau=tau)
    torch.testing.assert_close(q, w_q * 0.5)
    torch.testing.assert_close(k, w_k * 0.5)
