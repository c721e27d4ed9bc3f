"""Code of the handbook's answers, one module per page: ``snippets/<chapter>/<page>.py``.

Chapter folders keep the chapter slug, which may contain a hyphen
(``position-encoding``), so modules are loaded by path rather than by a
dotted ``import`` statement::

    from snippets import load
    rmsnorm = load("norms/rmsnorm")        # snippets/norms/rmsnorm.py
"""
from __future__ import annotations

import importlib
from types import ModuleType


def load(name: str) -> ModuleType:
    """Import ``snippets/<chapter>/<page>.py`` given ``"<chapter>/<page>"``."""
    return importlib.import_module("snippets." + name.strip("/").removesuffix(".py").replace("/", "."))
