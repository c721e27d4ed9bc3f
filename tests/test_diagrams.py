"""hooks/diagrams.py on small fixture sites (a minimal mkdocs.yml in a temporary folder, both languages):
diagrams drawn to inline SVG at build time with no mermaid script on the page, unique ids, an accessible
name and description in the page's language, none of the SVG's text in the search index, the disk cache
(a second build draws nothing), the fallback without Chromium, the file:line error of a broken diagram,
and labels >= 12 px on a 360 px screen with a focusable scroll box for wide diagrams."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from conftest import CHROMIUM, ROOT

MKDOCS_YML = f"""\
site_name: fixture
theme:
  name: material
  font: false
  palette:
    - scheme: default
    - scheme: slate
plugins:
  - search
  - i18n:
      docs_structure: suffix
      languages:
        - locale: zh
          name: 中文
          default: true
        - locale: en
          name: English
hooks:
  - {ROOT / 'hooks' / 'diagrams.py'}
  - {ROOT / 'hooks' / 'assets.py'}
extra_css:
  - assets/stylesheets/extra.css
extra_javascript:
  - assets/vendor/mermaid/mermaid.min.js
markdown_extensions:
  - admonition
  - pymdownx.superfences:
      custom_fences:
        - name: mermaid
          class: mermaid
          format: !!python/name:pymdownx.superfences.fence_code_format
"""

ZH = """\
# 首页

```mermaid
flowchart LR
    a[输入] --> b[注意力] -- 残差 --> c[输出]
```

同一张图出现两次（id 不能重复）：

```mermaid
flowchart LR
    a[输入] --> b[注意力] -- 残差 --> c[输出]
```

两张时序图（mermaid 给两者的角色同样的 id）：

```mermaid
sequenceDiagram
    客户端->>服务器: 请求
    服务器-->>客户端: 回答
```

```mermaid
sequenceDiagram
    accTitle: 一次问候
    客户端->>服务器: 你好
```
"""

EN = """\
# Home

```mermaid
flowchart LR
    accTitle: One transformer block
    accDescr: Input goes through attention to the output
    a[input] --> b[attention] -- residual --> c[output]
```

!!! note "A wide one"

    ```mermaid
    flowchart LR
        t[tokens] --> e[embedding lookup] --> p[position encoding] --> l[decoder layers] --> n[final norm] --> h[language-model head] --> s[softmax]
    ```
"""


def make_site(folder: Path, zh: str = ZH, en: str = EN) -> Path:
    docs = folder / "docs"
    (docs / "assets" / "vendor" / "mermaid").mkdir(parents=True)
    (docs / "assets" / "stylesheets").mkdir(parents=True)
    (docs / "assets" / "vendor" / "mermaid" / "mermaid.min.js").symlink_to(
        ROOT / "docs" / "assets" / "vendor" / "mermaid" / "mermaid.min.js")
    (docs / "assets" / "stylesheets" / "extra.css").symlink_to(ROOT / "docs" / "assets" / "stylesheets" / "extra.css")
    (docs / "index.zh.md").write_text(zh, encoding="utf-8")
    (docs / "index.en.md").write_text(en, encoding="utf-8")
    (folder / "mkdocs.yml").write_text(MKDOCS_YML, encoding="utf-8")
    return folder


def build(folder: Path, chromium: str = CHROMIUM, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true", "CHROMIUM": chromium}
    env.pop("HANDBOOK_DIAGRAMS", None)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", "site"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    proc.log = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, proc.log[-4000:]
        assert not re.search(r"^(WARNING|ERROR)", proc.log, re.M), proc.log[-4000:]
    return proc


def drew(log: str) -> int:
    return sum(int(n) for n in re.findall(r"diagrams: drew (\d+) mermaid diagram", log))


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory):
    folder = make_site(tmp_path_factory.mktemp("diagrams"))
    first = build(folder)
    return folder, first


def test_every_fence_is_an_svg_and_no_page_loads_mermaid(fixture_site):
    folder, first = fixture_site
    assert drew(first.log) == 5, first.log[-2000:]        # zh: one diagram twice and two more; en: two
    for page, count in (("index.html", 4), ("en/index.html", 2)):
        html = (folder / "site" / page).read_text(encoding="utf-8")
        assert '<pre class="mermaid">' not in html, page
        assert "mermaid.min.js" not in html, f"{page} still loads mermaid"
        assert html.count('<div class="diagram"') == count, page
        ids = Counter(re.findall(r'\sid="([^"]+)"', html))
        assert [i for i, n in ids.items() if n > 1] == [], f"{page}: repeated ids"
        for svg in re.findall(r"<svg [^>]*>", html):
            if 'role="img"' not in svg:
                continue
            own = re.search(r'id="([^"]+)"', svg).group(1)
            assert f'aria-labelledby="{own}-title"' in svg and f'aria-describedby="{own}-desc"' in svg


def test_accessible_name_and_description_in_the_page_language(fixture_site):
    folder, _ = fixture_site
    zh = (folder / "site" / "index.html").read_text(encoding="utf-8")
    en = (folder / "site" / "en" / "index.html").read_text(encoding="utf-8")
    titles = lambda html: re.findall(r"<title id=\"[^\"]+\">(.*?)</title>", html)   # noqa: E731
    descs = lambda html: re.findall(r"<desc id=\"[^\"]+\">(.*?)</desc>", html)      # noqa: E731
    assert titles(zh) == ["流程图：输入、注意力、输出"] * 2 + ["时序图：客户端、服务器", "一次问候"]  # nodes, accTitle
    assert descs(zh) == ["输入 → 注意力；注意力 → 输出：残差"] * 2 + [                # and the edges
        "客户端 → 服务器：请求；服务器 → 客户端：回答", "客户端 → 服务器：你好"]
    assert titles(en)[0] == "One transformer block"                                 # accTitle
    assert descs(en)[0] == "Input goes through attention to the output. input → attention; attention → output: residual"
    assert titles(en)[1] == "Flowchart: tokens, embedding lookup, position encoding and 4 more"


def test_svg_text_stays_out_of_the_search_index(fixture_site):
    folder, _ = fixture_site
    index = json.loads((folder / "site" / "search" / "search_index.json").read_text(encoding="utf-8"))
    text = " ".join(d["text"] + d["title"] for d in index["docs"]).replace("\u200b", "")   # jieba's word marks
    for label in ("注意力", "attention", "softmax", "残差"):
        assert label not in text, f"diagram label {label!r} indexed"
    assert "同一张图出现两次" in text                                      # the page's own text is


def test_second_build_draws_nothing_and_a_change_draws_one(fixture_site):
    folder, _ = fixture_site
    cached = sorted((folder / ".cache" / "diagrams").glob("*.json"))
    assert len(cached) == 5
    assert drew(build(folder).log) == 0
    en = folder / "docs" / "index.en.md"
    en.write_text(en.read_text(encoding="utf-8").replace("[softmax]", "[sampling]"), encoding="utf-8")
    assert drew(build(folder).log) == 1
    assert "sampling" in (folder / "site" / "en" / "index.html").read_text(encoding="utf-8")


def test_builds_started_together_draw_each_diagram_once(tmp_path):
    """`make test` starts the site and both print editions at once on an empty cache: the diagrams are
    drawn by one of them (a lock), not by each, and both builds get every one."""
    folder = make_site(tmp_path)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true", "CHROMIUM": CHROMIUM}
    env.pop("HANDBOOK_DIAGRAMS", None)
    procs = [subprocess.Popen([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", f"site{i}"], cwd=folder,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in (1, 2)]
    logs = [proc.communicate(timeout=600)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    assert sorted(drew(log) for log in logs) == [0, 5], logs       # one drew all five, the other none
    for i in (1, 2):
        html = (folder / f"site{i}" / "index.html").read_text(encoding="utf-8")
        assert html.count('<div class="diagram"') == 4 and '<pre class="mermaid">' not in html
    left = sorted(p.name for p in (folder / ".cache" / "diagrams").iterdir())
    assert len(left) == 6 and left[0] == ".lock" and all(n.endswith(".json") for n in left[1:]), left


def test_without_chromium_the_browser_draws_them(tmp_path):
    folder = make_site(tmp_path)
    proc = build(folder, chromium="/nonexistent/chromium")       # --strict: the note is INFO, not a warning
    assert re.search(r"^INFO .*diagrams: no Chromium at /nonexistent/chromium", proc.log, re.M), proc.log[-2000:]
    assert drew(proc.log) == 0
    html = (folder / "site" / "en" / "index.html").read_text(encoding="utf-8")
    assert html.count('<pre class="mermaid">') == 2 and "mermaid.min.js" in html
    assert '<div class="diagram"' not in html


def test_broken_diagram_fails_the_build_at_its_file_and_line(tmp_path):
    broken = EN.replace("--> s[softmax]", "--> s[softmax]\n        x --> [[[")
    folder = make_site(tmp_path, en=broken)
    proc = build(folder, check=False)
    assert proc.returncode != 0
    line = broken.splitlines().index("        x --> [[[") + 1
    assert f"docs/index.en.md:{line}: mermaid cannot draw this diagram" in proc.log, proc.log[-3000:]


def test_labels_readable_at_360px_and_wide_diagrams_scroll(fixture_site, browser):
    """At 360 px every label of every diagram renders at >= 12 px; a diagram that cannot fit scrolls in a
    focusable, named box instead of shrinking."""
    folder, _ = fixture_site
    page = browser.new_page(viewport={"width": 360, "height": 800})
    for url in ("index.html", "en/index.html"):
        page.goto((folder / "site" / url).as_uri())
        sizes = page.evaluate("""() => [...document.querySelectorAll('.diagram svg')].map(svg =>
            [...svg.querySelectorAll('foreignObject, text')].map(el => {
                const inner = el.tagName === 'text' ? el : (el.querySelector('span, p, div') || el);
                return parseFloat(getComputedStyle(inner).fontSize) * el.getScreenCTM().a; }))""")
        assert sizes and all(sizes), url
        smallest = min(min(s) for s in sizes)
        assert smallest >= 12, f"{url}: a label is {smallest:.1f} px at 360 px"
        boxes = page.evaluate("""() => [...document.querySelectorAll('.diagram')].map(d => ({
            scrolls: d.scrollWidth > d.clientWidth + 1, tab: d.getAttribute('tabindex'),
            name: d.getAttribute('aria-label'), role: d.getAttribute('role')}))""")
        for box in boxes:
            if box["scrolls"]:
                assert box["tab"] == "0" and box["name"] and box["role"] == "group", f"{url}: {box}"
        if url.startswith("en"):
            assert boxes[1]["scrolls"], "the wide diagram should scroll at 360 px"
    page.close()


def test_ids_inside_an_svg_are_made_its_own():
    """mermaid numbers some ids per browser session (sequence actors: actor0, root-0) and repeats others
    within one SVG, so two diagrams drawn in different builds can share ids on one page; every id is
    prefixed by the SVG's id, and references to ids follow."""
    import diagrams

    svg = ('<svg id="mmd-k" style="max-width: 100px;"><marker id="mmd-k_arrow"></marker><g id="actor0"></g>'
           '<g id="L_a_b_0"></g><text id="L_a_b_0"></text><path marker-end="url(#mmd-k_arrow)"></path>'
           '<use href="#actor0"></use></svg>')
    out = diagrams.prefixed_ids(svg, "mmd-k")
    ids = re.findall(r'\sid="([^"]+)"', out)
    assert ids == ["mmd-k", "mmd-k_arrow", "mmd-k-actor0", "mmd-k-L_a_b_0", "mmd-k-L_a_b_0-2"]
    assert 'href="#mmd-k-actor0"' in out and "url(#mmd-k_arrow)" in out
    drawn = {"svg": svg, "type": "sequence", "nodes": [], "edges": []}
    first, second = diagrams.figure(drawn, "k", "en", 1), diagrams.figure(drawn, "k", "en", 2)
    both = re.findall(r'\sid="([^"]+)"', first + second)
    assert len(both) == len(set(both)), Counter(both)
