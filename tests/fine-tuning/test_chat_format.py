"""Tests for snippets/fine-tuning/chat_format.py.

Oracles: transformers' apply_chat_template (jinja) on a tokenizer built offline,
DataCollatorWithFlattening, and per-example causal attention with SDPA.
"""
import pytest
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
    # by default no open assistant header is appended (training data, not a prompt), as in transformers
    assert cf.render_chatml(MESSAGES) == hf.apply_chat_template(MESSAGES, tokenize=False)
    assert not cf.render_chatml(MESSAGES).endswith("<|im_start|>assistant\n")


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
    # by hand: longest first (ties in index order), each into the first row with room, an exact fit fits
    assert cf.first_fit_decreasing([5, 5, 10], max_len=10) == [[2], [0, 1]]
    assert cf.first_fit_decreasing([3, 7, 4, 6], max_len=10) == [[1, 0], [3, 2]]
    with pytest.raises(ValueError, match="example 1 is longer than max_len"):
        cf.first_fit_decreasing([3, 11], max_len=10)


# --- multi-turn cost, loss weighting, label audit, output-format checks -------------------------

def _char_codec():
    vocab = {}
    enc = lambda s: [vocab.setdefault(ch, len(vocab)) for ch in s]
    dec = lambda toks: "".join({v: k for k, v in vocab.items()}[t] for t in toks)
    return enc, dec


def _dialogue(n_turns):
    msgs = [{"role": "system", "content": "Be brief."}]
    for k in range(n_turns):
        msgs += [{"role": "user", "content": f"question {k} " + "x" * k},
                 {"role": "assistant", "content": f"answer {k} " + "y" * (2 * k)}]
    return msgs


def test_split_vs_single_pass_by_hand_and_by_rendering():
    assert cf.split_vs_single_pass_tokens([400] * 10) == (4000, 22000)     # 400 * (1 + ... + 10)
    assert cf.split_vs_single_pass_tokens([100, 300]) == (400, 100 + 400)
    # Oracle: render the n split examples and the single sequence and count tokens.
    enc, _ = _char_codec()
    msgs = _dialogue(5)
    system_len = len(cf.tokenize_chat(msgs[:1], enc)[0])
    single = len(cf.tokenize_chat(msgs, enc)[0]) - system_len
    split = sum(len(cf.tokenize_chat(msgs[: 1 + 2 * (k + 1)], enc)[0]) - system_len for k in range(5))
    turns = [len(cf.tokenize_chat(msgs[1 + 2 * k: 3 + 2 * k], enc)[0]) for k in range(5)]
    assert cf.split_vs_single_pass_tokens(turns) == (single, split)


def test_sft_loss_weighting_matches_per_group_cross_entropy():
    torch.manual_seed(0)
    # two dialogues: A has one 6-token reply, B has two replies of 1 and 2 tokens
    labels = torch.tensor([-100, 3, 4, 5, 6, 7, 8, -100, -100, 9, -100, 1, 2, -100])
    dialog = torch.tensor([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    turn = torch.tensor([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    logits = torch.randn(len(labels), 12)
    m = labels != -100

    def ce(sel):
        return F.cross_entropy(logits[sel & m], labels[sel & m])

    token = F.cross_entropy(logits, labels, ignore_index=-100)
    per_dialogue = (ce(dialog == 0) + ce(dialog == 1)) / 2
    per_turn = (ce(turn == 0) + ce(turn == 1) + ce(turn == 2)) / 3
    torch.testing.assert_close(cf.sft_loss(logits, labels), token)
    torch.testing.assert_close(cf.sft_loss(logits, labels, dialog), per_dialogue)
    torch.testing.assert_close(cf.sft_loss(logits, labels, turn), per_turn)
    # the three weightings really differ on unequal lengths
    assert len({round(float(x), 5) for x in (token, per_dialogue, per_turn)}) == 3


def test_sft_loss_per_turn_skips_turns_with_nothing_trained():
    """Turn ids usually cover the system prompt and user turns too; a group with no trained token
    must not enter the mean (it would be the mean of nothing: nan). Oracle: F.cross_entropy per turn."""
    torch.manual_seed(1)
    labels = torch.tensor([-100, -100, -100, 5, 6, -100, -100, 0, -100])   # token id 0 is a real target
    turn = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 3])      # turn 0 (system) and 2 (user) are untrained
    logits = torch.randn(len(labels), 9, dtype=torch.float64)
    expected = (F.cross_entropy(logits[3:5], labels[3:5]) + F.cross_entropy(logits[7:8], labels[7:8])) / 2
    torch.testing.assert_close(cf.sft_loss(logits, labels, turn), expected)


class _ReadBudget(list):
    """Labels that count their reads and fail past a budget: the audit is one left-to-right pass,
    so a loop that stops advancing fails here at once instead of hanging."""

    def __init__(self, items, budget):
        super().__init__(items)
        self.reads, self.budget = 0, budget

    def __getitem__(self, key):
        self.reads += 1
        assert self.reads <= self.budget, "audit_chatml_labels re-reads labels: it is not advancing"
        return super().__getitem__(key)


def _audit(labels, decode, ids):
    """audit_chatml_labels with a read budget, so a mutant that stops advancing fails instead of hanging."""
    return cf.audit_chatml_labels(_ReadBudget(labels, budget=2 * len(labels) + 10), decode, ids)


def _span_starts(labels):
    return [i for i in range(len(labels)) if labels[i] != -100 and (i == 0 or labels[i - 1] == -100)]


def test_label_audit_flags_the_classic_mask_bugs():
    enc, dec = _char_codec()
    msgs = _dialogue(2)
    ids, labels = cf.tokenize_chat(msgs, enc)
    assert _audit(labels, dec, ids) == []
    assert len(_span_starts(labels)) == 2                  # one span per assistant reply
    start = "span at {}: does not start right after an assistant header"
    header = "span at {}: contains a role header"
    stop = "span at {}: does not end with <|im_end|>"
    # 1. off by one to the right: the span starts one token late and swallows the newline after <|im_end|>
    right = [-100] + [ids[i] if labels[i - 1] != -100 else -100 for i in range(1, len(ids))]
    assert _span_starts(right) == [i + 1 for i in _span_starts(labels)]
    assert _audit(right, dec, ids) == [
        m.format(i) for i in _span_starts(right) for m in (start, stop)]
    # 2. the end-of-turn token left untrained: the model never learns to stop
    end = enc("<|im_end|>")
    no_stop = list(labels)
    for i in range(len(ids) - len(end) + 1):
        if ids[i:i + len(end)] == end:
            no_stop[i:i + len(end)] = [-100] * len(end)
    assert _audit(no_stop, dec, ids) == [stop.format(i) for i in _span_starts(labels)]
    # 3. everything after the system prompt trained: one span holding headers, the user turns, the newline
    sys_len = len(cf.tokenize_chat(msgs[:1], enc)[0])
    everything = [-100] * sys_len + ids[sys_len:]
    assert _audit(everything, dec, ids) == [
        start.format(sys_len), header.format(sys_len), stop.format(sys_len)]
    # 4. truncated mid-reply: only the last span is flagged
    cut = len(ids) - 8
    assert _audit(labels[:cut], dec, ids[:cut]) == [stop.format(_span_starts(labels)[-1])]
    # 5. the user turns trained instead of the assistant's: every span starts after a user header
    user = [-100] * len(ids)
    pos = 0
    for m in msgs:
        head, body = enc(f"<|im_start|>{m['role']}\n"), enc(f"{m['content']}<|im_end|>")
        if m["role"] == "user":
            user[pos + len(head): pos + len(head) + len(body)] = body
        pos += len(head) + len(body) + len(enc("\n"))
    assert pos == len(ids)
    assert _audit(user, dec, ids) == [start.format(i) for i in _span_starts(user)]
    assert len(_span_starts(user)) == 2
    # 6. no masking at all (labels = input_ids): one span from token 0, flagged three ways
    assert _audit(list(ids), dec, ids) == [start.format(0), header.format(0), stop.format(0)]


def test_label_audit_is_one_pass_over_the_labels():
    enc, dec = _char_codec()
    ids, labels = cf.tokenize_chat(_dialogue(3), enc)
    masked = [-100] * len(ids)
    for lab, expected in ((labels, []), (list(ids), 3), (masked, [])):
        counted = _ReadBudget(lab, budget=2 * len(ids) + 10)    # each label read about once, plus a slice per span
        out = cf.audit_chatml_labels(counted, dec, ids)
        assert out == expected if isinstance(expected, list) else len(out) == expected
        assert counted.reads >= len(ids)                        # every label was looked at


def test_passages_that_fit_and_output_format_report_by_hand():
    # 8,192 context - 600 fixed - 1,024 answer = 6,568 -> 12 passages of 512 (12 * 512 = 6,144)
    assert cf.passages_that_fit(8192, 600, 1024, 512) == 12
    assert cf.passages_that_fit(4096, 600, 1024, 512) == 4                  # 2,472 // 512
    assert cf.passages_that_fit(1000, 600, 1024, 512) == 0
    outputs = ['{"ok": true}<|im_end|>',                     # fine
               '{"ok": true}',                               # no stop token, JSON fine
               'Sure! {"ok": true}<|im_end|>',               # chatter: JSON fails
               '{"ok": true}<|im_end|>\n<|im_start|>user',   # ran on into a user turn
               '{"ok": tr']                                  # truncated
    report = cf.output_format_report(outputs)
    assert report == {"no_stop_rate": 3 / 5, "tag_leak_rate": 1 / 5, "json_fail_rate": 3 / 5}
    assert cf.output_format_report(outputs, expect_json=False)["json_fail_rate"] == 0
    # every marker leaks, wherever it is in the reply; the one end token that stops it is not a leak
    leaks = ['{"a": 1}<|endoftext|><|im_end|>',              # another special token before the stop
             '{"a": 1}<|im_end|><|im_end|>',                 # a second end token: the first one leaked
             '{"a": 1}<|im_end|>x',                          # end token inside, reply ran on: no stop, leak
             '<|im_start|>assistant\n{"a": 1}<|im_end|>',   # a header repeated inside the reply
             '{"a": 1}<|im_end|>']                           # clean
    assert cf.output_format_report(leaks) == {"no_stop_rate": 1 / 5, "tag_leak_rate": 4 / 5,
                                              "json_fail_rate": 4 / 5}
    assert cf.output_format_report(leaks, markers=("<|endoftext|>",))["tag_leak_rate"] == 1 / 5
    # a custom end token: the reply is cut before it, so the JSON parses
    assert cf.output_format_report(['[1]</s>'], eos="</s>") == {"no_stop_rate": 0, "tag_leak_rate": 0,
                                                              "json_fail_rate": 0}


def test_zero_failure_claim_against_the_clopper_pearson_bound():
    from scipy.stats import beta
    n = cf.samples_for_zero_failure_claim(0.01)
    assert n == 299                                       # ln 0.05 / ln 0.99 = 298.07
    # With 0 failures in n, the one-sided 95% Clopper-Pearson upper bound is beta.ppf(0.95, 1, n).
    assert beta.ppf(0.95, 1, n) <= 0.01 < beta.ppf(0.95, 1, n - 1)
    assert beta.ppf(0.95, 1, 200) == pytest.approx(0.0149, abs=1e-4)   # 0/200 still allows 1.5%
    assert cf.samples_for_zero_failure_claim(0.05) == 59
