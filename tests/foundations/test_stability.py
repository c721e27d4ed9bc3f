"""Clipping vs clip_grad_norm_, init variance vs closed form, float formats vs torch.finfo."""
import math

import pytest
import torch

from snippets import load

st = load("foundations/stability")


def test_init_std_by_hand():
    # xavier sqrt(2 / (3 + 5)) = 1/2, symmetric in the fans; kaiming sqrt(2 / 8) = 1/2 whatever fan_out is
    assert st.init_std(3, 5, "xavier") == 0.5 and st.init_std(5, 3, "xavier") == 0.5
    assert st.init_std(8, 1, "kaiming") == 0.5 and st.init_std(8, 24, "kaiming") == 0.5
    assert st.init_std(1, 1, "xavier") == 1.0 and st.init_std(2, 2, "kaiming") == 1.0


@pytest.mark.parametrize("max_norm", [0.5, 5.0, 1e3])
def test_clip_matches_clip_grad_norm_(max_norm):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(4, 5)), torch.nn.Parameter(torch.randn(7))]
    grads = [torch.randn_like(p) * 3 for p in params]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    ref_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    clipped, norm = st.clip_grad_norm(grads, max_norm)
    assert norm == pytest.approx(float(ref_norm), rel=1e-6)
    for c, p in zip(clipped, params):
        torch.testing.assert_close(c, p.grad)


def test_clip_tiny_gradients_match_clip_grad_norm_eps():
    # total norm 1e-5, max_norm 1e-6: torch divides by (total + 1e-6), so the coefficient is 1/11, not 1/10
    params = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))]
    g = torch.tensor([6e-6, 8e-6], dtype=torch.float64)
    params[0].grad = g.clone()
    torch.nn.utils.clip_grad_norm_(params, 1e-6)
    clipped, norm = st.clip_grad_norm([g], 1e-6)
    assert norm == pytest.approx(1e-5, rel=1e-12)
    torch.testing.assert_close(clipped[0], params[0].grad, atol=0, rtol=1e-9)     # values ~1e-7: no atol
    torch.testing.assert_close(clipped[0], g / 11, atol=0, rtol=1e-9)


def test_init_std_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="lecun"):
        st.init_std(4, 4, "lecun")


def test_depth_scan_is_reproducible_and_any_width():
    # all randomness from the function's own seeded generator: the global RNG state does not matter
    torch.manual_seed(0)
    a = st.activation_scale_through_depth(3, 64, 0.1, seed=5)
    torch.manual_seed(1)
    assert st.activation_scale_through_depth(3, 64, 0.1, seed=5) == a
    assert st.activation_scale_through_depth(3, 64, 0.1, seed=6) != a
    assert st.activation_scale_through_depth(3, 64, 0.1) == st.activation_scale_through_depth(3, 64, 0.1, seed=0)
    # width 64, kaiming std: the second moment stays put layer to layer (factor 64 * 2/64 / 2 = 1)
    rms = st.activation_scale_through_depth(8, 64, st.init_std(64, 64, "kaiming"))
    assert len(rms) == 8 and 0.5 < rms[-1] / rms[0] < 2.0


def test_clip_hand_example_keeps_direction():
    clipped, norm = st.clip_grad_norm([torch.tensor([3.0]), torch.tensor([4.0])], 1.0, eps=0.0)
    assert norm == 5.0
    torch.testing.assert_close(torch.cat(clipped), torch.tensor([0.6, 0.8]))


def test_float_formats_match_torch_finfo():
    for dtype, (e, m) in {torch.float16: (5, 10), torch.bfloat16: (8, 7), torch.float32: (8, 23)}.items():
        fi, f = torch.finfo(dtype), st.float_format(e, m)
        assert f["max"] == fi.max and f["tiny"] == fi.tiny and f["eps"] == fi.eps
    assert torch.tensor(70000.0).half().isinf()           # above fp16 max
    assert torch.isfinite(torch.tensor(70000.0).bfloat16())


def test_init_std_matches_torch_init_and_depth_closed_form():
    w = torch.empty(512, 256)
    torch.nn.init.xavier_normal_(w)
    assert float(w.std()) == pytest.approx(st.init_std(256, 512, "xavier"), rel=0.02)
    torch.nn.init.kaiming_normal_(w, nonlinearity="relu")         # fan_in mode: fan_in = 256
    assert float(w.std()) == pytest.approx(st.init_std(256, 512, "kaiming"), rel=0.02)
    # Per layer, E[h^2] is multiplied by fan_in * std^2 / 2 (ReLU keeps half the second moment).
    width = 256
    for std in (0.02, st.init_std(width, width, "xavier"), st.init_std(width, width, "kaiming")):
        rms = st.activation_scale_through_depth(12, width, std)
        mean_square_ratio = (rms[-1] / rms[1]) ** 2                 # 10 layers apart
        expected = (width * std ** 2 / 2) ** 10
        assert math.log(mean_square_ratio) == pytest.approx(math.log(expected), abs=0.5)


def test_depth_scan_follows_its_documented_recipe():
    # The docstring's recipe, rebuilt with nn.functional: 256 inputs, then one weight per layer, all from
    # one generator seeded with seed; the RMS is over the whole (256, width) batch.
    width, std, seed = 48, 0.3, 7
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(256, width, generator=g)
    expected = []
    for _ in range(3):
        w = torch.randn(width, width, generator=g) * std
        h = torch.nn.functional.relu(torch.nn.functional.linear(h, w.T))
        expected.append(float(torch.linalg.vector_norm(h) / math.sqrt(h.numel())))
    assert st.activation_scale_through_depth(3, width, std, seed=seed) == pytest.approx(expected, rel=1e-5)


def test_depth_scan_is_homogeneous_in_std():
    # relu(c z) = c relu(z) for c > 0: doubling std multiplies the RMS after layer l by 2^l exactly
    # (powers of two scale floats without rounding).
    a = st.activation_scale_through_depth(5, 32, 0.25, seed=3)
    b = st.activation_scale_through_depth(5, 32, 0.5, seed=3)
    assert b == pytest.approx([x * 2 ** (l + 1) for l, x in enumerate(a)], rel=1e-6)
