"""data/source_map.tsv: which question answers which seed question (ids only, no question text)."""
from __future__ import annotations

import shutil
from pathlib import Path

from checks import source_map_problems

FIXTURE = Path(__file__).parent / "fixtures" / "good"


def test_source_map_is_consistent(root):
    assert source_map_problems(root) == []


def _tree(tmp_path: Path, source_map: str) -> Path:
    tree = tmp_path / "book"
    shutil.copytree(FIXTURE, tree)
    (tree / "data/seed_refs.tsv").write_text(
        "chapter\tsource_file\tref\ndemo\ta.txt\t1\ndemo\ta.txt\t2\nother\tb.txt\t7\n", encoding="utf-8")
    (tree / "data/source_map.tsv").write_text("source_file\tref\tquestion_id\n" + source_map, encoding="utf-8")
    return tree


def test_fixture_is_clean(tmp_path):
    tree = _tree(tmp_path, "a.txt\t1\tfirst-question\na.txt\t2\tsecond-question\na.txt\t2\tfirst-question\n")
    assert source_map_problems(tree) == []


def test_unknown_question_id(tmp_path):
    tree = _tree(tmp_path, "a.txt\t1\tfirst-question\na.txt\t2\tno-such-question\n")
    assert source_map_problems(tree) == [
        "data/source_map.tsv:3: question id 'no-such-question' does not exist in the zh pages",
        "data/source_map.tsv:3: question id 'no-such-question' does not exist in the en pages",
    ]


def test_unmapped_seed_row_and_unknown_ref(tmp_path):
    tree = _tree(tmp_path, "a.txt\t1\tfirst-question\na.txt\t9\tsecond-question\n")
    assert source_map_problems(tree) == [
        "data/source_map.tsv:3: a.txt 9 is not a seed row (see data/seed_refs.tsv)",
        "data/seed_refs.tsv: a.txt 2 (chapter demo) is not answered by any question in data/source_map.tsv",
    ]


def test_malformed_row(tmp_path):
    tree = _tree(tmp_path, "a.txt\t1\tfirst-question\na.txt 2 second-question\n")
    assert "data/source_map.tsv:3: expected 3 tab-separated columns source_file, ref, question_id" \
        in source_map_problems(tree)
