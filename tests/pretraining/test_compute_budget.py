"""6ND vs FlopCounterMode on a real training step, Chinchilla numbers by hand, the closed-form
optimum vs a numerical minimiser, and limits of the repeated-data formula."""
import math

import pytest
import torch
from scipy.optimize import minimize_scalar
from torch.utils.flop_counter import FlopCounterMode
from transformers import LlamaConfig, LlamaForCausalLM

from snippets import load

cb = load("pretraining/compute_budget")


def test_six_nd_matches_flop_counter_on_a_training_step():
    torch.manual_seed(0)
    d, f, L, V, seq, batch = 64, 160, 2, 128, 16, 2
    model = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=d, intermediate_size=f, num_hidden_layers=L,
                                         num_attention_heads=4, attn_implementation="eager"))
    ids = torch.randint(0, V, (batch, seq))
    with FlopCounterMode(display=False) as fc:
        model(ids, labels=ids).loss.backward()
    n_matmul = L * (4 * d * d + 3 * d * f) + V * d          # weights used in matmuls (lm_head included)
    tokens = batch * seq
    attention = 3 * (2 * 2 * L * seq * d) * tokens          # QK^T and AV, forward + 2x backward
    assert fc.get_total_flops() == cb.training_flops(n_matmul, tokens) + attention


def test_gpu_hours_by_hand():
    # 1e21 FLOPs on GPUs with 1e15 peak at 50% MFU: 2e6 GPU-seconds = 555.6 GPU-hours
    assert cb.gpu_hours(1e21, 1e15, 0.5) == pytest.approx(2e6 / 3600)


def test_chinchilla_rule_of_thumb_for_gopher_budget():
    n, d = cb.chinchilla_rule_of_thumb(5.76e23)
    assert n == pytest.approx(math.sqrt(5.76e23 / 120))     # ~69 B parameters
    assert n / 1e9 == pytest.approx(69.3, abs=0.1)
    assert d / 1e12 == pytest.approx(1.39, abs=0.01)        # Chinchilla: 70 B on 1.4 T tokens
    assert cb.training_flops(n, d) == pytest.approx(5.76e23)


@pytest.mark.parametrize("compute", [1e21, 5.76e23, 3.8e25])
def test_parametric_optimum_matches_numerical_minimiser(compute):
    p = cb.HOFFMANN
    loss_of_log_n = lambda log_n: cb.parametric_loss(math.exp(log_n), compute / (6 * math.exp(log_n)), **p)
    res = minimize_scalar(loss_of_log_n, bounds=(math.log(1e6), math.log(1e14)), method="bounded",
                          options={"xatol": 1e-10})
    n, d = cb.parametric_optimum(compute, **p)
    assert n == pytest.approx(math.exp(res.x), rel=1e-4)
    assert 6 * n * d == pytest.approx(compute)


def test_effective_tokens_limits():
    u = 1e9
    assert cb.effective_tokens(u, 1) == pytest.approx(u)                       # one epoch: all fresh
    assert cb.effective_tokens(u, 1.01) == pytest.approx(1.01 * u, rel=1e-4)   # first repeats ~ fresh
    assert cb.effective_tokens(u, 1e4) == pytest.approx(u * (1 + 15.4), rel=1e-6)  # saturates at U(1+R*)
    four = cb.effective_tokens(u, 4) / (4 * u)
    assert 0.9 < four < 1.0                                                    # 4 epochs worth >90% of fresh


def test_parametric_loss_and_effective_tokens_by_hand():
    # 1B params on 20B tokens: 1.69 + 406.4 / 1e9^0.34 + 410.7 / 2e10^0.28 = 1.69 + 0.3406 + 0.5494 = 2.5800
    assert cb.parametric_loss(1e9, 2e10, **cb.HOFFMANN) == pytest.approx(2.5800, abs=1e-4)
    # 4 epochs (R = 3): D' / U = 1 + 15.4 (1 - exp(-3 / 15.4)) = 3.7259
    assert cb.effective_tokens(1.0, 4) == pytest.approx(3.7259, abs=1e-4)
