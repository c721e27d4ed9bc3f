"""LLM + GNN sizing: how many tokens a graph costs as an edge list, and the compute per node of a
GraphSAGE forward pass versus an LLM reading the node's text.

Pages: docs/system-design/trends.{zh,en}.md
"""
from __future__ import annotations

import math

import numpy as np


# --8<-- [start:graph_budget]
def id_tokens(node_id: int, digits_per_token: int = 3) -> int:
    """Tokens for a decimal node ID when the tokenizer groups up to 3 digits per token
    (GPT-4's cl100k_base and Llama 3 do; tokenizers that split every digit use digits_per_token=1)."""
    return math.ceil(len(str(node_id)) / digits_per_token)


def edge_list_tokens(edges: np.ndarray, digits_per_token: int = 3) -> int:
    """Exact token count of "u v\\n" per edge: two IDs plus a space and a newline token."""
    return int(sum(id_tokens(int(u), digits_per_token) + id_tokens(int(v), digits_per_token) + 2
                   for u, v in edges))


def expected_edge_list_tokens(n_nodes: int, n_edges: int, digits_per_token: int = 3) -> float:
    """Same count in expectation when endpoints are uniform over IDs 0..n_nodes-1."""
    mean_id = 0.0
    for d in range(1, len(str(n_nodes - 1)) + 1):           # IDs with d digits
        lo, hi = (0 if d == 1 else 10 ** (d - 1)), min(10 ** d, n_nodes)
        mean_id += (hi - lo) * math.ceil(d / digits_per_token)
    return n_edges * (2 * mean_id / n_nodes + 2)


def sage_flops_per_node(d_in: int, hidden: int, n_classes: int, avg_degree: float) -> float:
    """Two-layer GraphSAGE (mean aggregator), full-graph inference: per layer, average the
    neighbours (degree * d adds) and apply W to [self; mean] (2 * (2 d) * d_out FLOPs)."""
    layer1 = avg_degree * d_in + 2 * (2 * d_in) * hidden
    layer2 = avg_degree * hidden + 2 * (2 * hidden) * n_classes
    return layer1 + layer2


def llm_flops_per_node(params: float, tokens: int) -> float:
    """Forward pass over the node's prompt: about 2 * params FLOPs per token."""
    return 2 * params * tokens
# --8<-- [end:graph_budget]


if __name__ == "__main__":
    n, e = 169_343, 1_166_243                                # ogbn-arxiv
    print(f"ogbn-arxiv edge list: {expected_edge_list_tokens(n, e) / 1e6:.2f}M tokens "
          f"({expected_edge_list_tokens(n, e, 1) / 1e6:.2f}M with one digit per token)")
    g = sage_flops_per_node(128, 256, 40, 2 * e / n)
    l = llm_flops_per_node(8e9, 300)
    print(f"per node: GraphSAGE {g / 1e6:.2f} MFLOPs, 8B LLM on 300 tokens {l / 1e12:.1f} TFLOPs ({l / g:.1e}x)")
