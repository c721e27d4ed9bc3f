"""VQ lookup vs brute-force cdist (with a tie), straight-through and stop-gradient structure
checked with autograd against closed forms, usage/perplexity and EMA updates vs hand numbers."""
import math

import torch
import torch.nn.functional as F

from snippets import load

vq = load("multimodal/vq_tokenizers")


def test_nearest_code_matches_cdist_argmin():
    torch.manual_seed(0)
    z = torch.randn(200, 8, dtype=torch.float64)
    cb = torch.randn(37, 8, dtype=torch.float64)
    ref = torch.cdist(z, cb).argmin(dim=1)
    assert torch.equal(vq.nearest_code(z, cb), ref)


def test_nearest_code_tie_goes_to_smaller_index():
    # z = (0, 0) is at distance 1 from codes 1 and 2 and sqrt(2) from code 0.
    cb = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    z = torch.tensor([[0.0, 0.0], [0.9, 0.1], [0.1, 0.9]])
    assert vq.nearest_code(z, cb).tolist() == [1, 1, 2]
    assert torch.cdist(z, cb).argmin(1).tolist() == [1, 1, 2]


def test_forward_value_is_the_code_and_gradient_is_straight_through():
    torch.manual_seed(1)
    cb = torch.nn.Parameter(torch.randn(6, 3, dtype=torch.float64))
    z_e = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    z_q, idx, _ = vq.vector_quantize(z_e, cb, beta=0.25)
    torch.testing.assert_close(z_q, cb.detach()[idx])
    w = torch.randn(10, 3, dtype=torch.float64)
    (z_q * w).sum().backward()                   # dL/dz_q = w
    torch.testing.assert_close(z_e.grad, w)       # copied unchanged to the encoder
    assert cb.grad is None or cb.grad.abs().sum() == 0   # the decoder path does not train the codebook


def test_vq_loss_gradients_follow_the_stop_gradients():
    torch.manual_seed(2)
    beta = 0.25
    cb = torch.nn.Parameter(torch.randn(5, 4, dtype=torch.float64))
    z_e = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    _, idx, loss = vq.vector_quantize(z_e, cb, beta=beta)
    e = cb.detach()[idx]
    n = z_e.numel()
    # value: (1 + beta) * mean squared distance
    torch.testing.assert_close(loss, (1 + beta) * F.mse_loss(z_e.detach(), e))
    loss.backward()
    # encoder only feels the commitment term: beta * 2 (z_e - e) / n
    torch.testing.assert_close(z_e.grad, beta * 2 * (z_e.detach() - e) / n)
    # each code only feels the codebook term: 2 * sum_{i -> k} (e_k - z_i) / n
    expected = torch.zeros_like(cb)
    expected.index_add_(0, idx, 2 * (e - z_e.detach()) / n)
    torch.testing.assert_close(cb.grad, expected)


def test_default_commitment_weight_is_a_quarter():
    # VQ-VAE (van den Oord et al., 2017) uses beta = 0.25: loss = 1.25 x mean squared distance
    torch.manual_seed(4)
    cb = torch.randn(5, 4, dtype=torch.float64)
    z_e = torch.randn(7, 4, dtype=torch.float64)
    _, idx, loss = vq.vector_quantize(z_e, cb)
    torch.testing.assert_close(loss, 1.25 * F.mse_loss(z_e, cb[idx]))


def test_usage_and_perplexity_by_hand():
    # counts (K = 4): [2, 2, 0, 0] -> 50 % used, perplexity exp(ln 2) = 2
    used, ppl = vq.codebook_usage(torch.tensor([0, 1, 0, 1]), 4)
    assert used == 0.5 and math.isclose(ppl, 2.0)
    # counts [3, 1]: H = -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.5623 -> perplexity 1.7548
    used, ppl = vq.codebook_usage(torch.tensor([0, 0, 0, 1]), 2)
    assert used == 1.0 and math.isclose(ppl, 1.7547654, rel_tol=1e-6)
    # full collapse: perplexity 1; uniform use of 8 codes: perplexity 8
    assert math.isclose(vq.codebook_usage(torch.zeros(10, dtype=torch.long), 8)[1], 1.0)
    assert math.isclose(vq.codebook_usage(torch.arange(8).repeat(3), 8)[1], 8.0)


def _ema_inputs():
    """Three 2-D vectors (two to code 0, one to code 1, none to code 2) and the running EMA state."""
    return (torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]], dtype=torch.float64),
            torch.tensor([0, 0, 1]),
            torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64),
            torch.tensor([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0]], dtype=torch.float64))


def test_ema_update_by_hand():
    z, idx, size, embed_sum = _ema_inputs()
    cb, size2, sum2 = vq.ema_codebook_update(z, idx, size, embed_sum, decay=0.5, eps=0.0)
    # N = 0.5*[1,1,1] + 0.5*[2,1,0] = [1.5, 1.0, 0.5]
    torch.testing.assert_close(size2, torch.tensor([1.5, 1.0, 0.5], dtype=torch.float64))
    # m_0 = 0.5*(0,0) + 0.5*(4,0) = (2,0); m_1 = 0.5*(0,1) + 0.5*(0,2) = (0,1.5); m_2 = (2.5,2.5)
    torch.testing.assert_close(sum2, torch.tensor([[2.0, 0.0], [0.0, 1.5], [2.5, 2.5]], dtype=torch.float64))
    torch.testing.assert_close(cb, torch.tensor([[4 / 3, 0.0], [0.0, 1.5], [5.0, 5.0]], dtype=torch.float64))


def test_ema_update_with_smoothing_and_unequal_decay_by_hand():
    z, idx, size, embed_sum = _ema_inputs()
    cb, size2, sum2 = vq.ema_codebook_update(z, idx, size, embed_sum, decay=0.9, eps=1.0)
    # N = 0.9*[1,1,1] + 0.1*[2,1,0] = [1.1, 1.0, 0.9]; m = 0.9*m + 0.1*[(4,0), (0,2), (0,0)]
    torch.testing.assert_close(size2, torch.tensor([1.1, 1.0, 0.9], dtype=torch.float64))
    torch.testing.assert_close(sum2, torch.tensor([[0.4, 0.0], [0.0, 1.1], [4.5, 4.5]], dtype=torch.float64))
    # Laplace: (N_k + eps) / (n + K eps) * n with n = 3, K = 3, eps = 1 -> (N + 1) / 2 = [1.05, 1.0, 0.95]
    torch.testing.assert_close(cb, torch.tensor([[0.4 / 1.05, 0.0], [0.0, 1.1], [4.5 / 0.95, 4.5 / 0.95]],
                                                dtype=torch.float64))
    # the defaults are decay 0.99, eps 1e-5
    for a, b in zip(vq.ema_codebook_update(z, idx, size, embed_sum),
                    vq.ema_codebook_update(z, idx, size, embed_sum, decay=0.99, eps=1e-5)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(vq.ema_codebook_update(z, idx, size, embed_sum)[0],
                           vq.ema_codebook_update(z, idx, size, embed_sum, decay=0.99, eps=1e-3)[0])


def test_restart_touches_only_dead_codes():
    torch.manual_seed(3)
    cb = torch.randn(6, 3)
    size = torch.tensor([5.0, 0.0, 1.0, 0.2, 3.0, 0.0])   # usage exactly at the threshold stays alive
    z = torch.randn(20, 3) + 10
    new, dead = vq.restart_dead_codes(cb, size, z, threshold=1.0, generator=torch.Generator().manual_seed(0))
    assert dead.tolist() == [False, True, False, True, False, True]
    torch.testing.assert_close(new[~dead], cb[~dead])
    for row in new[dead]:                                   # every restarted code is a batch vector
        assert (z == row).all(dim=1).any()
    before = cb.clone()
    new2, dead2 = vq.restart_dead_codes(cb, size, z)        # default threshold 1.0
    assert dead2.tolist() == dead.tolist() and torch.equal(cb, before)   # the caller's codebook is untouched
    same, none = vq.restart_dead_codes(cb, torch.full((6,), 2.0), z)
    assert not none.any() and torch.equal(same, cb)
