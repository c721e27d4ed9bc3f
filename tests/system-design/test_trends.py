"""Tests for snippets/system-design/trends.py: token counts against a real serialized edge list
counted with a regex tokenizer (up to three digits per token, space and newline separate), and the
FLOP counts by hand."""
import re

import networkx as nx
import numpy as np
import pytest

from snippets import load

tr = load("system-design/trends")


def _count(text: str, digits: int) -> int:
    return len(re.findall(r"\d{1,%d}| |\n" % digits, text))


@pytest.mark.parametrize("digits", [3, 1])
def test_edge_list_tokens_match_serialized_text(digits):
    g = nx.gnm_random_graph(5_000, 20_000, seed=0)
    edges = np.array(g.edges())
    text = "".join(f"{u} {v}\n" for u, v in edges)
    assert tr.edge_list_tokens(edges, digits) == _count(text, digits)


def test_expected_tokens_match_uniform_random_edges():
    rng = np.random.default_rng(0)
    n, m = 169_343, 50_000
    edges = rng.integers(0, n, size=(m, 2))
    text = "".join(f"{u} {v}\n" for u, v in edges)
    assert tr.expected_edge_list_tokens(n, m) == pytest.approx(_count(text, 3), rel=0.005)
    # by hand: 1,000 one-token IDs and 168,343 two-token IDs -> mean 1.9941 tokens per ID
    assert tr.expected_edge_list_tokens(n, 1) == pytest.approx(2 * (1000 + 2 * 168_343) / n + 2)
    # boundary: 1,000 nodes are IDs 0..999, one token each -> 4 tokens per edge
    assert tr.expected_edge_list_tokens(1000, 10) == pytest.approx(40.0)


def test_flops_by_hand():
    # 13.77 x 128 + 2 x 256 x 256 = 1,763 + 131,072; 13.77 x 256 + 2 x 512 x 40 = 3,526 + 40,960
    deg = 2 * 1_166_243 / 169_343
    assert tr.sage_flops_per_node(128, 256, 40, deg) == pytest.approx(
        deg * 128 + 131_072 + deg * 256 + 40_960)
    assert tr.llm_flops_per_node(8e9, 300) == pytest.approx(4.8e12)


@pytest.mark.parametrize("node_id, per_token, tokens", [
    (0, 3, 1), (999, 3, 1), (1000, 3, 2), (169342, 3, 2), (1693420, 3, 3), (12345, 1, 5), (7, 1, 1)])
def test_id_tokens_by_hand(node_id, per_token, tokens):
    assert tr.id_tokens(node_id, per_token) == tokens


def test_defaults_group_three_digits_per_token():
    # 1234 is "123" + "4" with the default 3 digits per token; edge "1234 5\n": 2 + 1 + space + newline
    assert tr.id_tokens(1234) == 2
    assert tr.edge_list_tokens(np.array([[1234, 5]])) == 5
    assert tr.expected_edge_list_tokens(10_000, 1) == pytest.approx(2 * (1000 + 2 * 9000) / 10_000 + 2)
