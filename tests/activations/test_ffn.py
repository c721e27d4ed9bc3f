import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from snippets import load

ffn = load("activations/ffn")


def test_forward_matches_hand_composition():
    torch.manual_seed(0)
    d, d_ff = 16, 64
    block = ffn.DenseFFN(d, d_ff)
    x = torch.randn(3, 5, d)
    w1, b1 = block.w1.weight.detach().clone(), block.w1.bias.detach().clone()
    w2, b2 = block.w2.weight.detach().clone(), block.w2.bias.detach().clone()
    expected = F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)
    torch.testing.assert_close(block(x), expected)


def test_forward_uses_the_given_activation():
    torch.manual_seed(1)
    block = ffn.DenseFFN(6, 10, activation=F.gelu, bias=False)
    assert block.w1.bias is None and block.w2.bias is None
    x = torch.randn(2, 3, 6)
    expected = F.gelu(x @ block.w1.weight.T) @ block.w2.weight.T
    torch.testing.assert_close(block(x), expected)


def test_default_hidden_size_is_4d():
    block = ffn.DenseFFN(24)
    assert block.w1.out_features == 96 and block.w2.in_features == 96


def test_param_count_matches_nn_sequential():
    for d, d_ff, bias in [(16, 64, True), (512, 2048, True), (48, 128, False)]:
        ref = nn.Sequential(nn.Linear(d, d_ff, bias=bias), nn.ReLU(), nn.Linear(d_ff, d, bias=bias))
        n_ref = sum(p.numel() for p in ref.parameters())
        assert ffn.ffn_param_count(d, d_ff, bias=bias) == n_ref
        assert sum(p.numel() for p in ffn.DenseFFN(d, d_ff, bias=bias).parameters()) == n_ref
    # Transformer-base by hand: 2*512*2048 + 2048 + 512
    assert ffn.ffn_param_count(512, 2048) == 2_099_712


def test_flops_match_torch_flop_counter():
    d, d_ff, tokens = 32, 128, 7
    block = ffn.DenseFFN(d, d_ff, bias=False)
    x = torch.randn(1, tokens, d)
    with FlopCounterMode(display=False) as counter:
        block(x)
    assert counter.get_total_flops() == tokens * ffn.ffn_flops_per_token(d, d_ff)
    assert ffn.ffn_flops_per_token(d, 4 * d) == 16 * d * d


def test_relu_and_derivative_match_autograd():
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    x = x[x != 0].requires_grad_(True)
    torch.testing.assert_close(ffn.relu(x), F.relu(x))
    (g,) = torch.autograd.grad(F.relu(x).sum(), x)
    torch.testing.assert_close(ffn.relu_grad(x.detach()), g)
    # at exactly 0, PyTorch's autograd uses subgradient 0
    z = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (g0,) = torch.autograd.grad(F.relu(z).sum(), z)
    torch.testing.assert_close(ffn.relu_grad(z.detach()), g0)


def test_dead_relu_unit_gets_no_gradient():
    torch.manual_seed(0)
    block = ffn.DenseFFN(8, 32)
    with torch.no_grad():
        block.w1.bias[3] = -1e4  # pre-activation of unit 3 is negative for every input below
    x = torch.randn(4, 6, 8)
    block(x).pow(2).sum().backward()
    assert torch.count_nonzero(block.w1.weight.grad[3]) == 0
    assert block.w1.bias.grad[3] == 0
    assert block.w1.weight.grad.abs().sum() > 0  # other units still learn
