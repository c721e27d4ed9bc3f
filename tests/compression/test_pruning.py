"""Tests for snippets/compression/pruning.py against torch.nn.utils.prune and hand examples."""
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

from snippets import load

pr = load("compression/pruning")


def test_magnitude_mask_matches_torch_l1_unstructured():
    torch.manual_seed(0)
    for amount in (0.1, 0.5, 0.9):
        layer = nn.Linear(40, 30)
        w = layer.weight.detach().clone()
        prune.l1_unstructured(layer, "weight", amount=amount)
        torch.testing.assert_close(pr.magnitude_mask(w, amount), layer.weight_mask)
        assert int((pr.magnitude_mask(w, amount) == 0).sum()) == round(amount * w.numel())


def test_magnitude_mask_rounds_like_torch():
    # 0.29 * 100 = 28.999999999999996 in floating point: torch prunes round() = 29 weights, not int() = 28
    torch.manual_seed(6)
    layer = nn.Linear(10, 10)
    w = layer.weight.detach().clone()
    prune.l1_unstructured(layer, "weight", amount=0.29)
    torch.testing.assert_close(pr.magnitude_mask(w, 0.29), layer.weight_mask)
    assert int((pr.magnitude_mask(w, 0.29) == 0).sum()) == 29


def test_row_mask_matches_torch_ln_structured():
    torch.manual_seed(1)
    layer = nn.Linear(24, 16)
    w = layer.weight.detach().clone()
    prune.ln_structured(layer, "weight", amount=0.25, n=2, dim=0)
    torch.testing.assert_close(pr.row_mask(w, 0.25), layer.weight_mask)
    assert int((pr.row_mask(w, 0.25).sum(1) == 0).sum()) == 4              # 4 whole rows gone
    # a single row: 0.25 of 4 rows
    w4 = torch.tensor([[3.0, 0.0], [0.1, 0.1], [1.0, 1.0], [0.0, -2.0]])
    assert pr.row_mask(w4, 0.25).tolist() == [[1, 1], [0, 0], [1, 1], [1, 1]]


def test_two_four_mask_by_hand_and_invariants():
    w = torch.tensor([[0.1, -3.0, 2.0, 0.5, 4.0, -0.2, 0.3, -1.0]])
    # group 1: |-3| and |2| are the two largest; group 2: |4| and |-1|
    assert pr.n_m_mask(w).tolist() == [[0, 1, 1, 0, 1, 0, 0, 1]]
    torch.manual_seed(2)
    big = torch.randn(32, 64)
    m = pr.n_m_mask(big)
    assert torch.equal(m.reshape(32, 16, 4).sum(-1), torch.full((32, 16), 2.0))   # exactly 2 of every 4
    # every kept weight is at least as large as every dropped weight of its group
    g, mg = big.abs().reshape(32, 16, 4), m.reshape(32, 16, 4).bool()
    kept_min = torch.where(mg, g, torch.inf).amin(-1)
    dropped_max = torch.where(~mg, g, -torch.inf).amax(-1)
    assert (kept_min >= dropped_max).all()


def test_other_n_m_patterns():
    w = torch.tensor([[0.1, -3.0, 2.0, 0.5, 4.0, -0.2, 0.3, -1.0]])
    assert pr.n_m_mask(w, 1, 4).tolist() == [[0, 1, 0, 0, 1, 0, 0, 0]]          # 1:4
    assert pr.n_m_mask(w, 4, 8).tolist() == [[0, 1, 1, 0, 1, 0, 0, 1]]          # 4:8, one group of 8
    assert pr.n_m_mask(w, 3, 4).tolist() == [[0, 1, 1, 1, 1, 0, 1, 1]]          # 3:4


def test_pack_2_4_keeps_positions_in_ascending_order():
    # sparse tensor-core metadata lists each group's 2 positions in ascending order, values alike
    vals, idx = pr.pack_2_4(torch.tensor([[0.0, 3.0, 0.0, 5.0, -7.0, 0.0, 0.0, 1.0]]))
    assert vals.tolist() == [[3.0, 5.0, -7.0, 1.0]] and idx.tolist() == [[1, 3, 0, 3]]


def test_wanda_uses_activation_norms():
    # weights [1, 2]; input feature 0 has norm 10, feature 1 has norm 1 -> scores [10, 2]
    w = torch.tensor([[1.0, 2.0]])
    x = torch.tensor([[6.0, 0.6], [8.0, 0.8]])                  # column norms 10 and 1
    assert pr.wanda_mask(w, x, 0.5).tolist() == [[1.0, 0.0]]      # Wanda drops the 2
    assert pr.magnitude_mask(w, 0.5).tolist() == [[0.0, 1.0]]     # magnitude drops the 1
    # with all input norms equal, Wanda = per-row magnitude pruning
    torch.manual_seed(3)
    w2 = torch.randn(8, 16)
    x2 = torch.linalg.qr(torch.randn(64, 16))[0] * 3            # orthonormal columns -> equal norms
    per_row = torch.ones_like(w2).scatter(1, w2.abs().topk(8, dim=1, largest=False).indices, 0.0)
    torch.testing.assert_close(pr.wanda_mask(w2, x2, 0.5), per_row)


def test_wanda_beats_magnitude_when_inputs_have_different_scales():
    torch.manual_seed(4)
    w = torch.randn(64, 128)
    x = torch.randn(256, 128) * torch.logspace(-1, 1, 128)
    y = x @ w.T
    err = lambda m: ((x @ (w * m).T) - y).norm() / y.norm()          # noqa: E731
    assert err(pr.wanda_mask(w, x, 0.5)) < err(pr.magnitude_mask(w, 0.5))


def test_pack_2_4_roundtrip_and_bit_count():
    torch.manual_seed(5)
    w = torch.randn(16, 32)
    sparse = w * pr.n_m_mask(w)
    vals, idx = pr.pack_2_4(sparse)
    assert vals.shape == (16, 16) and int(idx.max()) <= 3
    assert idx.dtype == torch.uint8                                         # positions stored as bytes
    for dtype in (torch.float16, torch.float64):                            # unpack keeps the value dtype
        v, i = pr.pack_2_4(sparse.to(dtype))
        assert v.dtype == dtype and pr.unpack_2_4(v, i).dtype == dtype
        assert torch.equal(pr.unpack_2_4(v, i), sparse.to(dtype))
    torch.testing.assert_close(pr.unpack_2_4(vals, idx), sparse)          # lossless for a 2:4 matrix
    dense_bits = sparse.numel() * 16
    packed_bits = vals.numel() * 16 + idx.numel() * 2                      # 2-bit index per kept value
    assert packed_bits / dense_bits == pr.two_four_size_ratio(16) == 9 / 16


def test_size_ratio_and_amdahl_by_hand():
    assert pr.two_four_size_ratio(8) == 5 / 8                              # (4 + 1) / 8
    # 60% of time in GEMMs that run 2x faster: 1 / (0.4 + 0.3) = 1/0.7
    assert abs(pr.amdahl_speedup(0.6, 2.0) - 1 / 0.7) < 1e-12
    assert pr.amdahl_speedup(0.6, 1.0) == 1.0                              # no kernel gain, no gain
    assert abs(pr.amdahl_speedup(1.0, 1.3) - 1.3) < 1e-12                  # everything sped up
    assert pr.amdahl_speedup(0.6, 1e9) < 2.5 + 1e-6                        # bound 1 / (1 - f)
