"""Tests for snippets/transformer/architecture.py: nn.TransformerEncoderLayer, one-hot matmul, chain rule."""
import torch
import torch.nn.functional as F
from torch import nn

from snippets import load

arch = load("transformer/architecture")


def _copy_from_torch(block, ref: nn.TransformerEncoderLayer) -> None:
    with torch.no_grad():
        block.qkv.weight.copy_(ref.self_attn.in_proj_weight)
        block.qkv.bias.copy_(ref.self_attn.in_proj_bias)
        block.out.weight.copy_(ref.self_attn.out_proj.weight)
        block.out.bias.copy_(ref.self_attn.out_proj.bias)
        block.ff1.load_state_dict(ref.linear1.state_dict())
        block.ff2.load_state_dict(ref.linear2.state_dict())
        block.ln1.load_state_dict(ref.norm1.state_dict())
        block.ln2.load_state_dict(ref.norm2.state_dict())


def test_block_matches_torch_encoder_layer_post_and_pre_ln():
    torch.manual_seed(0)
    d, h, d_ff = 32, 4, 64
    x = torch.randn(2, 7, d)
    for norm_first in (False, True):
        ref = nn.TransformerEncoderLayer(d, h, d_ff, dropout=0.0, batch_first=True, norm_first=norm_first).eval()
        for p in ref.parameters():        # random LN affine too, so the copy is really tested
            nn.init.normal_(p, std=0.3)
        # the default is the original Post-LN block
        block = arch.TransformerBlock(d, h, d_ff, norm_first=True) if norm_first else arch.TransformerBlock(d, h, d_ff)
        _copy_from_torch(block, ref)
        torch.testing.assert_close(block(x), ref(x), atol=1e-5, rtol=1e-5)
        mask = nn.Transformer.generate_square_subsequent_mask(7)
        torch.testing.assert_close(block(x, causal=True), ref(x, src_mask=mask, is_causal=True),
                                   atol=1e-5, rtol=1e-5)


def test_embedding_is_one_hot_matmul_and_nn_embedding():
    table = arch.init_embedding(50, 8, seed=1)
    ids = torch.tensor([[0, 7, 49, 7]])
    one_hot = F.one_hot(ids, 50).float()
    torch.testing.assert_close(arch.embed(ids, table), one_hot @ table)
    ref = nn.Embedding.from_pretrained(table)
    torch.testing.assert_close(arch.embed(ids, table), ref(ids))
    torch.testing.assert_close(arch.embed(ids, table, scale_by_sqrt_d=True), ref(ids) * 8 ** 0.5)


def test_embedding_init_std():
    table = arch.init_embedding(4000, 64)                   # defaults: std 0.02, seed 0
    assert abs(table.std().item() - 0.02) < 5e-4 and abs(table.mean().item()) < 5e-4
    assert torch.equal(table, arch.init_embedding(4000, 64, std=0.02, seed=0))
    assert torch.equal(table, arch.init_embedding(4000, 64))           # seeded: reproducible
    assert not torch.equal(table, arch.init_embedding(4000, 64, seed=1))


def test_residual_stack_with_zero_branches_has_identity_jacobian():
    d = 6
    weights = [torch.zeros(d, d, dtype=torch.float64) for _ in range(10)]
    x = torch.randn(1, d, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda t: arch.deep_stack(t, weights, residual=True), x)
    torch.testing.assert_close(jac.reshape(d, d), torch.eye(d, dtype=torch.float64))


def test_plain_stack_jacobian_is_chain_rule_product():
    torch.manual_seed(3)
    d = 5
    weights = [torch.randn(d, d, dtype=torch.float64) * 0.4 for _ in range(3)]
    x = torch.randn(1, d, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda t: arch.deep_stack(t, weights, residual=False), x).reshape(d, d)
    # Chain rule by hand: y = tanh(h W), dy/dh = diag(1 - y^2) W^T, multiplied layer by layer.
    expected, h = torch.eye(d, dtype=torch.float64), x
    for w in weights:
        y = torch.tanh(h @ w)
        expected = torch.diag(1 - y[0] ** 2) @ w.T @ expected
        h = y
    torch.testing.assert_close(jac, expected)
    # With residuals: h <- h + tanh(h W), dh'/dh = I + diag(1 - y^2) W^T.
    jac = torch.autograd.functional.jacobian(lambda t: arch.deep_stack(t, weights, residual=True), x).reshape(d, d)
    expected, h = torch.eye(d, dtype=torch.float64), x
    for w in weights:
        y = torch.tanh(h @ w)
        expected = (torch.eye(d, dtype=torch.float64) + torch.diag(1 - y[0] ** 2) @ w.T) @ expected
        h = h + y
    torch.testing.assert_close(jac, expected)
    torch.testing.assert_close(arch.deep_stack(x, weights[:1], residual=True), x + torch.tanh(x @ weights[0]))


def test_gradient_vanishes_without_residual_only():
    deep_plain = arch.input_grad_norm(64, residual=False)
    deep_res = arch.input_grad_norm(64, residual=True)
    assert deep_plain < 1e-10 and deep_res > 1.0


def test_input_grad_norm_by_hand_and_defaults():
    # depth 0: L = sum(x), dL/dx = ones(1, d), norm sqrt(d); the default width is 64
    assert abs(arch.input_grad_norm(0) - 8.0) < 1e-6
    assert abs(arch.input_grad_norm(0, d=16) - 4.0) < 1e-6
    # defaults: residual, std 0.5, seed 0; a seeded experiment is reproducible
    a = arch.input_grad_norm(8)
    assert a == arch.input_grad_norm(8, d=64, residual=True, std=0.5, seed=0) == arch.input_grad_norm(8)
    assert a != arch.input_grad_norm(8, seed=1)


def test_plain_stack_gradient_scale_matches_weight_variance():
    # Weights N(0, std^2 / d): in the near-linear regime (small std, tanh' ~ 1) the input gradient of a
    # plain stack is W_1 ... W_L 1 and E||grad||^2 = d * std^(2L). Averaged over 40 seeds (chi-square
    # spread of one draw ~ 1 / sqrt(d / 2) ~ 18 %), the ratio is 1 within 12 %.
    for depth in (1, 2):
        ratios = [arch.input_grad_norm(depth, residual=False, std=0.1, seed=s) ** 2 / (64 * 0.1 ** (2 * depth))
                  for s in range(40)]
        assert abs(sum(ratios) / len(ratios) - 1) < 0.12, ratios
