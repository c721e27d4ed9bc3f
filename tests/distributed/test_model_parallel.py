"""Tests for snippets/distributed/model_parallel.py against nn modules, torch SDPA and hand numbers."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from snippets import load

mp_ = load("distributed/model_parallel")


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_tensor_parallel_mlp_equals_unsplit_mlp(tp):
    torch.manual_seed(tp)
    d, f = 16, 64
    ref = nn.Sequential(nn.Linear(d, f), nn.GELU(), nn.Linear(f, d)).double()
    x = torch.randn(7, d, dtype=torch.float64)
    # nn.Linear stores weight as (out, in); the snippet uses x @ W with W (in, out)
    out = mp_.tensor_parallel_mlp(x, ref[0].weight.T, ref[0].bias, ref[2].weight.T, ref[2].bias, tp)
    torch.testing.assert_close(out, ref(x))


def test_pipeline_bubble_by_hand():
    # GPipe/1F1B: (p-1)/(m+p-1). p=4, m=4 -> 3/7; p=4, m=1 -> 3/4 (naive model parallelism)
    assert math.isclose(mp_.pipeline_bubble_fraction(4, 4), 3 / 7)
    assert math.isclose(mp_.pipeline_bubble_fraction(4, 1), 3 / 4)
    assert mp_.pipeline_bubble_fraction(1, 10) == 0.0
    # interleaving with v chunks: bubble time (p-1)/v vs ideal m -> (p-1)/(v m + p - 1)
    assert math.isclose(mp_.pipeline_bubble_fraction(8, 8, 2), 7 / 23)
    # bubble/ideal ratio equals (p-1)/(v m) as in Narayanan et al. (2021)
    frac = mp_.pipeline_bubble_fraction(8, 16, 4)
    assert math.isclose(frac / (1 - frac), 7 / (4 * 16))


@pytest.mark.parametrize("cp", [1, 2, 3, 4, 6])
def test_context_parallel_attention_equals_sdpa(cp):
    torch.manual_seed(cp)
    q, k, v = (torch.randn(2, 3, 12, 8, dtype=torch.float64) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(mp_.context_parallel_attention(q, k, v, cp), ref)
