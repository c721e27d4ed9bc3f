"""The labs (docs/labs/*.ipynb): both languages with identical code, every notebook executes, and each
lab reaches the result its last cell states.

Code cells are identical in the two languages (checked below), so executing the Chinese file is
enough to know that the English one runs and gives the same result; only ``*.zh.ipynb`` is executed.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "docs" / "labs"
LANGS = ("zh", "en")
CELL_TIMEOUT = 300          # seconds per cell
LAB_TIME_LIMIT = 180        # seconds per notebook (each lab takes ~5-15 s on 2 cores)

# What each lab's last cell must print (and assert). The numbers are checked here again, so deleting
# an assert from a notebook does not silence the check.
RESULTS = {
    "tiny_gpt": (r"final train loss ([\d.]+) < ([\d.]+); KV-cache logits == full recompute \(max diff ([\d.e+-]+) <= 1e-4\)",
                 lambda loss, limit, diff: float(loss) < float(limit) <= 1.0 and float(diff) <= 1e-4),
    "lora": (r"trainable ([\d.]+) % < 10 %; task B accuracy ([\d.]+) > 0.95; base task A accuracy ([\d.]+) > 0.95; "
             r"merged == unmerged \(max diff ([\d.e+-]+) <= 1e-4\)",
             lambda frac, acc_b, acc_a, diff: float(frac) < 10 and float(acc_b) > 0.95 and float(acc_a) > 0.95
             and float(diff) <= 1e-4),
    "rag": (r"best recall@5 ([\d.]+) >= ([\d.]+)",
            lambda recall, limit: float(recall) >= float(limit) >= 0.9),
}


def lab_names(labs: Path = LABS) -> list[str]:
    return sorted({p.name.split(".")[0] for p in labs.glob("*.ipynb")})


def code_cells(nb) -> list[tuple[int, str]]:
    """(index in the notebook, source) of every code cell, in order."""
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def notebook_pair_problems(labs: Path) -> list[str]:
    """Every ``<name>.zh.ipynb`` has a ``<name>.en.ipynb`` twin (and vice versa) with the same code cells."""
    problems = []
    for name in lab_names(labs):
        paths = {lang: labs / f"{name}.{lang}.ipynb" for lang in LANGS}
        missing = [p.name for p in paths.values() if not p.exists()]
        if missing:
            problems.append(f"{labs.name}/{name}: missing {', '.join(missing)}")
            continue
        zh, en = (code_cells(nbformat.read(paths[lang], as_version=4)) for lang in LANGS)
        for n, ((i_zh, src_zh), (i_en, src_en)) in enumerate(zip(zh, en)):
            if src_zh != src_en:
                problems.append(f"{labs.name}/{paths['en'].name}: code cell {n} (cell {i_en}) differs from "
                                f"{paths['zh'].name} code cell {n} (cell {i_zh})")
        if len(zh) != len(en):
            problems.append(f"{labs.name}/{paths['en'].name}: {len(en)} code cells, "
                            f"{paths['zh'].name} has {len(zh)}")
    return problems


def test_every_lab_has_both_languages_with_identical_code():
    assert set(RESULTS) <= set(lab_names()), "a lab listed in RESULTS has no notebook"
    assert notebook_pair_problems(LABS) == []


def _write_nb(path: Path, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(s) if kind == "md" else nbformat.v4.new_code_cell(s)
                for kind, s in cells]
    nbformat.write(nb, path)


def test_differing_code_cell_is_reported(tmp_path):
    labs = tmp_path / "labs"
    labs.mkdir()
    _write_nb(labs / "x.zh.ipynb", [("md", "# 标题"), ("code", "a = 1"), ("md", "说明"), ("code", "print(a)")])
    _write_nb(labs / "x.en.ipynb", [("md", "# Title"), ("code", "a = 1"), ("md", "Note"), ("code", "print(a + 1)")])
    _write_nb(labs / "y.zh.ipynb", [("code", "pass")])
    assert notebook_pair_problems(labs) == [
        "labs/x.en.ipynb: code cell 1 (cell 3) differs from x.zh.ipynb code cell 1 (cell 3)",
        "labs/y: missing y.en.ipynb",
    ]


def test_stored_notebooks_carry_their_outputs():
    """The site renders the stored outputs (execute: false), so every code cell must have run, without
    errors, and the labs must store their plots as PNG."""
    for name in lab_names():
        for lang in LANGS:
            path = LABS / f"{name}.{lang}.ipynb"
            nb = nbformat.read(path, as_version=4)
            cells = [c for c in nb.cells if c.cell_type == "code"]
            assert all(c.execution_count is not None for c in cells), f"{path.name}: not executed"
            outputs = [o for c in cells for o in c.outputs]
            assert not [o for o in outputs if o.output_type == "error"], f"{path.name}: stored error output"
            if name in RESULTS:
                assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name}: no stored plot"
                assert re.search(RESULTS[name][0], _text(nb)), f"{path.name}: stored result line missing"


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                out.append(o.text)
            elif "text/plain" in o.get("data", {}):
                out.append(o.data["text/plain"])
    return "".join(out)


@pytest.mark.parametrize("name", lab_names())
def test_lab_executes_and_reaches_its_result(name):
    nb = nbformat.read(LABS / f"{name}.zh.ipynb", as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(LABS)}}).execute()   # raises on any error
    seconds = time.perf_counter() - start
    print(f"\n{name}: executed in {seconds:.1f} s")
    assert seconds < LAB_TIME_LIMIT, f"{name}: {seconds:.0f} s > {LAB_TIME_LIMIT} s"
    if name in RESULTS:
        pattern, check = RESULTS[name]
        m = re.search(pattern, _text(nb))
        assert m, f"{name}: the result line was not printed"
        assert check(*m.groups()), f"{name}: result not reached: {m.group(0)}"


def test_lab_pages_have_plots_and_working_links(built_site):
    """Built lab pages are HTML with the stored plots, and hooks/notebooks.py turned the notebooks'
    ``../chapter/page.md#id`` links into page URLs in the page's language."""
    for name in RESULTS:
        for prefix in ("", "en/"):
            html = (built_site / f"{prefix}labs/{name}/index.html").read_text(encoding="utf-8")
            assert html.lstrip().lower().startswith("<!doctype html"), name
            assert "data:image/png" in html, f"{prefix}labs/{name}: no plot"
            assert not re.search(r'href="[^"]*\.md(#[^"]*)?"', html), f"{prefix}labs/{name}: unresolved .md link"
            links = re.findall(r'href="(\.\./\.\./[a-z-]+/[a-z_]+/#[a-z0-9-]+)"', html)
            assert links, f"{prefix}labs/{name}: no link back to a question"
            for link in links:
                page, frag = link[len("../../"):].split("#")
                target = built_site / prefix / page / "index.html"
                assert target.exists(), f"{prefix}labs/{name}: {link} leads nowhere"
                assert f'id="{frag}"' in target.read_text(encoding="utf-8"), f"{prefix}labs/{name}: no #{frag}"
