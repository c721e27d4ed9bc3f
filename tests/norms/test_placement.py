"""Tests for snippets/norms/placement.py: formulas recomputed with nn modules + SDPA,
and the Post-LN vs Pre-LN gradient-norm behaviour at initialisation."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from snippets import load

pl = load("norms/placement")


def _reference_modules(block: nn.Module, d: int, d_ff: int):
    """Independent nn.Linear / nn.LayerNorm modules with weights copied from the block."""
    mods = {
        "qkv": nn.Linear(d, 3 * d), "proj": nn.Linear(d, d),
        "fc1": nn.Linear(d, d_ff), "fc2": nn.Linear(d_ff, d),
        "ln1": nn.LayerNorm(d), "ln2": nn.LayerNorm(d),
        "ln1_out": nn.LayerNorm(d), "ln2_out": nn.LayerNorm(d),
    }
    for name, mod in mods.items():
        mod.load_state_dict(getattr(block, name).state_dict())
    return mods


def _attn(m, x, h):
    b, s, d = x.shape
    q, k, v = m["qkv"](x).split(d, dim=-1)
    heads = lambda t: t.view(b, s, h, d // h).transpose(1, 2)
    o = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
    return m["proj"](o.transpose(1, 2).reshape(b, s, d))


def _ffn(m, x):
    return m["fc2"](F.gelu(m["fc1"](x)))


def _make(seed=0, d=32, h=4, d_ff=64):
    torch.manual_seed(seed)
    block = pl.Block(d, h, d_ff)
    for ln in (block.ln1, block.ln2, block.ln1_out, block.ln2_out):   # non-trivial affine params
        nn.init.normal_(ln.weight, 1.0, 0.3)
        nn.init.normal_(ln.bias, 0.0, 0.3)
    x = torch.randn(2, 6, d)
    return block, _reference_modules(block, d, d_ff), x, h


def test_post_ln_formula():
    block, m, x, h = _make(0)
    y = m["ln1"](x + _attn(m, x, h))
    y = m["ln2"](y + _ffn(m, y))
    torch.testing.assert_close(block(x, "post"), y)


def test_pre_ln_formula():
    block, m, x, h = _make(1)
    y = x + _attn(m, m["ln1"](x), h)
    y = y + _ffn(m, m["ln2"](y))
    torch.testing.assert_close(block(x, "pre"), y)


def test_sandwich_ln_formula():
    block, m, x, h = _make(2)
    y = x + m["ln1_out"](_attn(m, m["ln1"](x), h))
    y = y + m["ln2_out"](_ffn(m, m["ln2"](y)))
    torch.testing.assert_close(block(x, "sandwich"), y)


def test_same_weights_different_outputs():
    block, _, x, _ = _make(3)
    assert not torch.allclose(block(x, "pre"), block(x, "post"), atol=1e-3)


def test_post_ln_output_is_normalised_pre_ln_residual_is_not():
    # Invariant: a Post-LN layer ends in LayerNorm, so with default affine params
    # (gain 1, bias 0) every output token has mean 0 and variance 1 (up to eps).
    torch.manual_seed(4)
    block = pl.Block(32, 4, 64)
    x = torch.randn(2, 6, 32) * 5
    y = block(x, "post")
    torch.testing.assert_close(y.mean(-1), torch.zeros(2, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(2, 6), atol=1e-3, rtol=0)
    # Pre-LN keeps the raw residual stream: the input scale (std ~5) passes through.
    assert block(x, "pre").std() > 3


@pytest.fixture
def one_thread():
    """Run on one intra-op thread: these stacks are tiny, and on a loaded 2-core machine PyTorch's
    second thread mostly spins (measured for the L=24 calls: 16 s CPU with 2 threads, 0.8 s with 1)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _grad_norm_by_hand(placement, n_layers, d, seed):
    """last_layer_grad_norm recomputed from its description with nn.functional / SDPA: the same
    random draws in the same order (blocks, head, input, labels), our own forward, autograd.grad."""
    torch.manual_seed(seed)
    blocks = [pl.Block(d, 4, 4 * d) for _ in range(n_layers)]          # 4 heads, d_ff = 4d
    head = nn.Linear(d, 100)                                          # 100 random classes
    x = torch.randn(8, 16, d)                                         # batch 8, seq 16
    labels = torch.randint(0, 100, (8, 16))
    for blk in blocks:
        m = _reference_modules(blk, d, 4 * d)
        if placement == "post":
            x = m["ln1"](x + _attn(m, x, 4))
            x = m["ln2"](x + _ffn(m, x))
        else:
            x = x + _attn(m, m["ln1"](x), 4)
            x = x + _ffn(m, m["ln2"](x))
        last = m["fc2"]
    if placement == "pre":
        x = F.layer_norm(x, (d,))                                     # final LN at init: gain 1, bias 0
    loss = F.cross_entropy(head(x).reshape(-1, 100), labels.reshape(-1))
    (grad,) = torch.autograd.grad(loss, last.weight)
    return grad.norm().item()


@pytest.mark.parametrize("placement", ["post", "pre"])
def test_last_layer_grad_norm_matches_recomputation(placement, one_thread):
    for n_layers, d, seed in ((1, 16, 0), (3, 32, 5)):
        got = pl.last_layer_grad_norm(placement, n_layers, d=d, seed=seed)
        assert got == pytest.approx(_grad_norm_by_hand(placement, n_layers, d, seed), rel=1e-5)


def test_last_layer_grad_norm_defaults_reproduce_page_table(one_thread):
    # The page's table (d = 64 by default, seed 0), rows L = 2 and 6, to its three decimals.
    table = {(2, "post"): 0.260, (2, "pre"): 0.251, (6, "post"): 0.264, (6, "pre"): 0.231}
    for (n_layers, placement), value in table.items():
        assert round(pl.last_layer_grad_norm(placement, n_layers), 3) == value, (n_layers, placement)


def test_last_layer_gradient_post_ln_larger_than_pre_ln_when_deep(one_thread):
    # Xiong et al. 2020: near the output, Post-LN gradients at init do not shrink with depth,
    # Pre-LN gradients shrink roughly like 1/sqrt(L). Observed ratios at L=24 are 1.7-1.9
    # over seeds 0-7; we assert > 1.3 on three seeds.
    for seed in (0, 1, 2):
        post = pl.last_layer_grad_norm("post", 24, seed=seed)
        pre = pl.last_layer_grad_norm("pre", 24, seed=seed)
        assert post > 1.3 * pre, (seed, post, pre)


def test_pre_ln_last_layer_gradient_shrinks_with_depth_post_ln_does_not(one_thread):
    pre_shallow = pl.last_layer_grad_norm("pre", 2, seed=0)
    pre_deep = pl.last_layer_grad_norm("pre", 24, seed=0)
    post_shallow = pl.last_layer_grad_norm("post", 2, seed=0)
    post_deep = pl.last_layer_grad_norm("post", 24, seed=0)
    assert pre_deep < 0.75 * pre_shallow
    assert abs(post_deep / post_shallow - 1) < 0.2


def test_default_placement_is_pre_and_unknown_placement_is_named():
    block, m, x, h = _make(5)
    y = x + _attn(m, m["ln1"](x), h)
    torch.testing.assert_close(block(x), y + _ffn(m, m["ln2"](y)))        # no placement given: Pre-LN
    with pytest.raises(ValueError, match="^sandwhich$"):
        block(x, "sandwhich")
