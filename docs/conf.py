"""Sphinx configuration for the tapievent documentation site.

Built in CI with warnings as errors (``sphinx-build -W -n``): a broken
reference, a public name without a docstring or a page left out of the
table of contents fails the build. The guides are the Markdown pages beside
this file (read by myst-parser); the API reference is generated from the
docstrings of every name in ``tapievent.__all__`` and of the public
submodules; the CLI reference is generated from the argument parser itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import tapievent  # noqa: E402  (after the path set-up, as Sphinx loads conf.py)

project = "tapievent"
author = "The tapievent maintainers"
copyright = "2026, The tapievent maintainers"
release = tapievent.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxarg.ext",
    "tapievent_docs",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autoclass_content = "class"
nitpicky = True
nitpick_ignore_regex = [
    # Types of the standard library and of attrs: no intersphinx (the build
    # machine has no network), so they cannot be linked.
    (r"py:.*", r"(collections\.abc|typing|enum|asyncio|ssl|socket|argparse|pathlib|attrs?)\..*"),
    (r"py:.*", r"(os|sqlite3)\..*"),
    # The call record in tapievent.history's signatures: linked once the core exports it.
    (r"py:class", r"tapievent\._records\..*"),
    (r"py:.*", r"(Ellipsis|NoneType|Self|T|_T|T_co|.*_Sentinel)"),
    # The C-accelerated private modules the standard library's types live in.
    (r"py:.*", r"(_ssl|_asyncio|_socket|concurrent\.futures\._base)\..*"),
    # The strategies' return type, from hypothesis (no intersphinx either).
    (r"py:class", r"hypothesis\.strategies\.SearchStrategy"),
    # What BrokerSettings.client_options() is for, from aiomqtt (the same).
    (r"py:class", r"aiomqtt\.Client"),
    # The type of NEED_DATA, which is its only value: the reference documents
    # tapievent.NEED_DATA, the enum that makes it a typed singleton is private.
    (r"py:class", r"tapievent\._framing\.Sentinel"),
    # A TypeVar (call() and submit() return what the coroutine returns).
    (r"py:class", r"tapievent\.testing\._threaded\.T"),
    # The PBX model's TypeVar (a PBX of Call or of a subclass of it).
    (r"py:(class|obj)", r"tapievent\.testing\._pbx\.C"),
]
html_theme = "alabaster"
html_title = f"tapievent {release}"
