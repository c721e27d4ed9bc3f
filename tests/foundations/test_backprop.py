"""Hand-written backprop vs torch.autograd; PCA vs SVD."""
import torch
import torch.nn.functional as F

from snippets import load

bp = load("foundations/backprop")


def test_relu_grad_matches_autograd():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 4.0], requires_grad=True)
    torch.relu(x).sum().backward()
    torch.testing.assert_close(bp.relu_grad(x.detach()), x.grad)
    torch.testing.assert_close(bp.relu(x.detach()), F.relu(x.detach()))


def test_mlp_backward_matches_autograd():
    torch.manual_seed(0)
    n, d_in, h, C = 16, 7, 32, 5
    params = {
        "x": torch.randn(n, d_in, dtype=torch.float64),
        "W1": torch.randn(d_in, h, dtype=torch.float64) * 0.5, "b1": torch.randn(h, dtype=torch.float64) * 0.1,
        "W2": torch.randn(h, C, dtype=torch.float64) * 0.5, "b2": torch.randn(C, dtype=torch.float64) * 0.1,
    }
    y = torch.randint(0, C, (n,))
    leaf = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    ref_loss = F.cross_entropy(F.relu(leaf["x"] @ leaf["W1"] + leaf["b1"]) @ leaf["W2"] + leaf["b2"], y)
    ref_loss.backward()
    loss, grads = bp.mlp_forward_backward(params["x"], y, params["W1"], params["b1"], params["W2"], params["b2"])
    torch.testing.assert_close(loss, ref_loss.detach())
    for k in params:
        torch.testing.assert_close(grads[k], leaf[k].grad, msg=k)


def test_softmax_jacobian_and_vjp_match_autograd():
    torch.manual_seed(1)
    x = torch.randn(6, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda z: torch.softmax(z, -1), x)
    torch.testing.assert_close(bp.softmax_jacobian(x), J)
    g = torch.randn(6, dtype=torch.float64)
    torch.testing.assert_close(bp.softmax_vjp(torch.softmax(x, -1), g), g @ J)
    # batched (..., V): each row's own <g, p>, as autograd's backward of softmax over the last dim
    xb = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    gb = torch.randn(2, 3, 6, dtype=torch.float64)
    pb = torch.softmax(xb, -1)
    (ref,) = torch.autograd.grad(pb, xb, gb)
    torch.testing.assert_close(bp.softmax_vjp(pb.detach(), gb), ref)


def test_embedding_grad_matches_nn_embedding():
    torch.manual_seed(2)
    V, d = 10, 5                                       # d != seq (4): the two axes cannot be confused
    emb = torch.nn.Embedding(V, d)
    ids = torch.tensor([[1, 3, 1, 7], [3, 3, 0, 1]])
    out = emb(ids)
    g_out = torch.randn_like(out)
    out.backward(g_out)
    mine = bp.embedding_grad(ids, g_out, V)
    torch.testing.assert_close(mine, emb.weight.grad)
    untouched = [i for i in range(V) if i not in ids]
    assert mine[untouched].abs().sum() == 0
    # the table's gradient has the gradient's dtype (float64 here), like autograd's
    emb64 = torch.nn.Embedding(V, d).double()
    out64 = emb64(ids)
    g64 = torch.randn_like(out64)
    out64.backward(g64)
    mine64 = bp.embedding_grad(ids, g64, V)
    assert mine64.dtype == torch.float64
    torch.testing.assert_close(mine64, emb64.weight.grad, rtol=1e-12, atol=1e-12)


def test_pca_matches_svd():
    torch.manual_seed(3)
    x = torch.randn(300, 4, dtype=torch.float64) @ torch.randn(4, 4, dtype=torch.float64)
    comps, var = bp.pca(x, k=2)
    xc = x - x.mean(0)
    _, S, Vh = torch.linalg.svd(xc, full_matrices=False)
    torch.testing.assert_close(var, S[:2] ** 2 / (x.shape[0] - 1))
    # Eigenvectors are defined up to sign.
    torch.testing.assert_close((comps * Vh[:2]).sum(1).abs(), torch.ones(2, dtype=torch.float64))
    # data far from the origin (mean 5) and k = 3: the same directions and variances as the SVD of centred data
    x5 = x + 5.0
    comps3, var3 = bp.pca(x5, k=3)
    assert comps3.shape == (3, 4) and var3.shape == (3,)
    torch.testing.assert_close(var3, S[:3] ** 2 / (x.shape[0] - 1))
    torch.testing.assert_close(comps3 @ comps3.T, torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close((comps3 * Vh[:3]).sum(1).abs(), torch.ones(3, dtype=torch.float64))
