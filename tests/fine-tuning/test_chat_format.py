"""Tests for snippets/fine-tuning/chat_format.py.

Oracles: transformers' apply_chat_template (jinja) on a tokenizer built offline,
DataCollatorWithFlattening, and per-example causal attention with SDPA.
"""
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import DataCollatorWithFlattening, PreTrainedTokenizerFast

from snippets import load

cf = load("fine-tuning/chat_format")

# ChatML written as a jinja template, with {% generation %} marking trained assistant text.
CHATML_JINJA = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' }}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}{% else %}{{ m['content'] + '<|im_end|>' + '\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello there"},
    {"role": "assistant", "content": "hi how are you"},
    {"role": "user", "content": "fine thanks"},
    {"role": "assistant", "content": "good to hear"},
]


def _tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    words = " ".join(w for m in MESSAGES for w in (m["role"] + " " + m["content"]).split())
    tok.train_from_iterator([words], trainers.WordLevelTrainer(special_tokens=["[UNK]", "<|im_start|>", "<|im_end|>"]))
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]",
                                 additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    hf.chat_template = CHATML_JINJA
    return hf


def test_render_matches_apply_chat_template():
    hf = _tokenizer()
    for gen in (False, True):
        msgs = MESSAGES[:-1] if gen else MESSAGES
        assert cf.render_chatml(msgs, add_generation_prompt=gen) == \
            hf.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)


def test_labels_match_hf_assistant_mask():
    hf = _tokenizer()
    ids, labels = cf.tokenize_chat(MESSAGES, lambda s: hf.encode(s, add_special_tokens=False))
    ref = hf.apply_chat_template(MESSAGES, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    assert ids == ref["input_ids"]
    assert [int(l != -100) for l in labels] == ref["assistant_masks"]
    assert all(l == i for l, i in zip(labels, ids) if l != -100)


def test_packing_matches_data_collator_with_flattening():
    examples = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]
    ours = cf.pack_examples(examples)
    ref = DataCollatorWithFlattening()([{"input_ids": e} for e in examples])
    assert ours["input_ids"].tolist() == ref["input_ids"][0].tolist()
    assert ours["labels"].tolist() == ref["labels"][0].tolist()
    assert ours["position_ids"].tolist() == ref["position_ids"][0].tolist()


def test_no_cross_example_attention():
    packed = cf.pack_examples([[1, 2, 3], [4, 5], [6, 7, 8, 9]])
    mask = cf.packed_causal_mask(packed["doc_ids"])
    doc = packed["doc_ids"].tolist()
    for i in range(len(doc)):
        for j in range(len(doc)):
            assert bool(mask[i, j]) == (doc[i] == doc[j] and j <= i)


def test_packed_attention_equals_each_example_alone():
    torch.manual_seed(0)
    lens = [3, 5, 2]
    packed = cf.pack_examples([list(range(n)) for n in lens])
    b, h, s, d = 1, 2, sum(lens), 8
    q, k, v = (torch.randn(b, h, s, d) for _ in range(3))
    out = cf.packed_attention(q, k, v, packed["doc_ids"])
    start = 0
    for n in lens:
        sl = slice(start, start + n)
        alone = F.scaled_dot_product_attention(q[:, :, sl], k[:, :, sl], v[:, :, sl], is_causal=True)
        torch.testing.assert_close(out[:, :, sl], alone)
        start += n


def test_first_fit_decreasing_respects_capacity_and_uses_every_example():
    lengths = [700, 300, 500, 200, 900, 400, 100]
    rows = cf.first_fit_decreasing(lengths, max_len=1024)
    assert sorted(i for r in rows for i in r) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in r) <= 1024 for r in rows)
    # 3100 tokens need at least ceil(3100 / 1024) = 4 rows; FFD reaches it here.
    assert len(rows) == 4
