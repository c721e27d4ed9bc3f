"""Tests for snippets/distributed/memory_saving.py: accumulated gradients == big-batch gradients,
hand-written checkpointing == plain autograd == torch.utils.checkpoint, fp16 limits from torch.finfo,
and the loss-scale schedule worked out by hand."""
import copy

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from snippets import load

ms = load("distributed/memory_saving")


class TinyTokenModel(nn.Module):
    """(b, d) -> (b, seq=5, vocab=7) logits."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 5 * 7)

    def forward(self, x):
        return self.lin(x).view(-1, 5, 7)


def _data(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 7, (8, 5), generator=g)
    lengths = torch.tensor([5, 1, 2, 5, 3, 1, 4, 2])                 # very uneven padding
    mask = (torch.arange(5).unsqueeze(0) < lengths.unsqueeze(1)).double()
    return x, y, mask


def _full_batch_backward(ref: nn.Module, x, y, m) -> None:
    """Oracle: one batch, loss = mean NLL over all valid (unpadded) tokens."""
    nll = nn.functional.cross_entropy(ref(x).flatten(0, 1), y.flatten(), reduction="none")
    ((nll * m.flatten()).sum() / m.sum()).backward()


def test_gradient_accumulation_equals_full_batch():
    torch.manual_seed(0)
    model = TinyTokenModel().double()
    ref = copy.deepcopy(model)
    x, y, m = _data(0)
    _full_batch_backward(ref, x, y, m)
    ms.accumulate_gradients(model, [(x[i:i + 2], y[i:i + 2], m[i:i + 2]) for i in range(0, 8, 2)])
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad)


def test_naive_mean_of_micro_batch_means_is_wrong_with_uneven_padding():
    torch.manual_seed(0)
    model = TinyTokenModel().double()
    ref = copy.deepcopy(model)
    x, y, m = _data(1)
    _full_batch_backward(ref, x, y, m)
    for i in range(0, 8, 2):                                           # per-micro-batch token mean / 4
        xb, yb, mb = x[i:i + 2], y[i:i + 2], m[i:i + 2]
        l = nn.functional.cross_entropy(model(xb).flatten(0, 1), yb.flatten(), reduction="none")
        ((l * mb.flatten()).sum() / mb.sum() / 4).backward()
    assert not torch.allclose(model.lin.weight.grad, ref.lin.weight.grad)


def test_checkpoint_gives_same_gradients_as_plain_autograd_and_torch_checkpoint():
    torch.manual_seed(1)
    block = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 16)).double()
    x = torch.randn(5, 16, dtype=torch.float64, requires_grad=True)

    def grads(forward):
        block.zero_grad()
        x.grad = None
        forward().pow(2).sum().backward()
        return [x.grad.clone()] + [p.grad.clone() for p in block.parameters()]

    plain = grads(lambda: block(x))
    mine = grads(lambda: ms.checkpointed(block, x))
    torch_ckpt = grads(lambda: checkpoint(block, x, use_reentrant=False))
    for a, b, c in zip(mine, plain, torch_ckpt):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, c)


def test_checkpoint_saves_only_the_block_input():
    block = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 16))
    x = torch.randn(5, 16, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        ms.checkpointed(block, x)
    # only x and the parameters are saved, none of the (5, 64) hidden activations
    assert (5, 64) not in saved
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        block(x)
    assert (5, 64) in saved


def test_fp16_underflow_and_loss_scaling():
    # smallest fp16 subnormal is 2^-24 ~ 5.96e-8 (torch.finfo gives the smallest normal, 2^-14)
    assert torch.finfo(torch.float16).tiny == 2.0**-14
    assert torch.tensor(2.0**-24).half().item() == 2.0**-24
    g = torch.tensor(1e-8)
    assert g.half().item() == 0.0                                    # lost without scaling
    scaled = (g * 2**16).half().float() / 2**16                      # survives with scale 2^16
    assert abs(scaled.item() - 1e-8) / 1e-8 < 1e-3
    assert torch.tensor(70000.0).half().isinf()                      # fp16 max is 65504


def test_dynamic_loss_scale_schedule_by_hand():
    s = ms.DynamicLossScaler(init_scale=1024.0, growth_interval=3)
    # finite, finite, inf -> 512; then 3 finite -> 1024; inf -> 512
    for finite, expected in [(True, 1024), (True, 1024), (False, 512), (True, 512), (True, 512),
                             (True, 1024), (False, 512)]:
        s.update(finite)
        assert s.scale == expected
    grads = [torch.tensor([1024.0, 2048.0])]
    s2 = ms.DynamicLossScaler(init_scale=1024.0)
    assert s2.unscale_and_check(grads) and grads[0].tolist() == [1.0, 2.0]
    assert not s2.unscale_and_check([torch.tensor([float("inf")])]) and s2.scale == 512.0
    # one non-finite value in any of the tensors skips the step
    assert not s2.unscale_and_check([torch.tensor([1.0]), torch.tensor([2.0, float("nan")])])
    assert s2.scale == 256.0


def test_checkpoint_function_recomputes_once_and_matches_autograd():
    torch.manual_seed(2)
    w = torch.randn(8, 8, dtype=torch.float64, requires_grad=True)
    x = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    calls = []

    def fn(inp):
        calls.append(torch.is_grad_enabled())
        return torch.tanh(inp @ w)

    y = ms.Checkpoint.apply(fn, x, w)
    assert calls == [False] and y.requires_grad                       # forward ran once, without a graph
    y.sum().backward()
    assert calls == [False, True]                                      # one recompute, with a graph
    gx, gw = x.grad.clone(), w.grad.clone()
    x.grad = w.grad = None
    torch.tanh(x @ w).sum().backward()                                 # plain autograd
    torch.testing.assert_close(gx, x.grad)
    torch.testing.assert_close(gw, w.grad)


def test_loss_scaler_follows_torch_gradscaler():
    # oracle: torch.amp.GradScaler on CPU, fed the same scaled gradients (inf on some steps): after every
    # step the same scale, the same skip decision and the same unscaled gradient
    p = nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([p], lr=0.1)
    ref = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
    mine = ms.DynamicLossScaler(init_scale=1024.0, growth_interval=3)
    g = torch.Generator().manual_seed(0)
    pattern = [True] * 4 + [False, False] + [True] * 7 + [False] + [True] * 3 + [False, True, True, True]
    for finite in pattern:
        direction = torch.randn(3, generator=g)
        opt.zero_grad()
        (ref.scale((p * direction).sum()) * (1.0 if finite else float("inf"))).backward()
        mine_grad = [p.grad.clone()]                                 # the same scaled gradient
        before = p.detach().clone()
        ref.unscale_(opt)
        ref_grad = p.grad.clone()
        ref.step(opt)
        ref.update()
        took = mine.unscale_and_check(mine_grad)
        assert took == (not torch.equal(before, p.detach())) == finite
        assert mine.scale == ref.get_scale()
        if finite:
            torch.testing.assert_close(mine_grad[0], ref_grad, rtol=0, atol=0)


def test_loss_scaler_defaults_are_gradscalers():
    ref = torch.amp.GradScaler("cpu")                                 # init 2^16, growth every 2000 clean steps
    s = ms.DynamicLossScaler()
    assert s.scale == ref.get_scale() == 2.0**16
    for _ in range(ref.get_growth_interval() - 1):
        s.update(True)
    assert s.scale == 2.0**16                                         # 1999 clean steps: not yet
    s.update(True)
    assert s.scale == 2.0**17


def test_checkpoint_with_a_parameter_the_block_does_not_use():
    # e.g. a module holding weights this input never reaches: plain autograd leaves its grad None
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4).double()
            self.unused = nn.Parameter(torch.ones(4, dtype=torch.float64))

        def forward(self, x):
            return torch.tanh(self.lin(x))

    torch.manual_seed(3)
    block = Block()
    x = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    ms.checkpointed(block, x).sum().backward()
    got = [x.grad.clone(), block.lin.weight.grad.clone()]
    assert block.unused.grad is None
    x.grad = block.lin.weight.grad = None
    block(x).sum().backward()
    torch.testing.assert_close(got[0], x.grad)
    torch.testing.assert_close(got[1], block.lin.weight.grad)
