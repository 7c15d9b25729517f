"""Sphinx configuration of stackvault's documentation (``doc/``).

Built by ``tox -e docs`` and ``make docs`` (which ``make test`` runs) as
``sphinx-build -W --keep-going -b html doc doc/_build/html``: a warning
(a broken ``:doc:`` link, a bad title underline, a stray merge marker, a
docstring autodoc cannot read) fails the build.
"""

import os
import re
import sys

from docutils import nodes
from sphinx.util import logging

LOG = logging.getLogger(__name__)

# autodoc imports protection.plugin from this checkout, installed or not.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                "..")))

project = "stackvault"
author = "the stackvault developers"
copyright = "the stackvault developers"

extensions = ["sphinx.ext.autodoc"]

root_doc = "index"
exclude_patterns = ["_build"]
# Roles such as :mod:`.base` or :class:`Resource` in the docstrings point
# at names autodoc does not document: they render as code, not as errors.
nitpicky = False

# The API reference (plugin-api.rst) follows the source order, which is
# the order the modules explain things in.
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "alabaster"
html_title = "stackvault"
html_static_path = []

# -- checks docutils does not make --------------------------------------------
# A line of adornment characters inside a paragraph is a title line that
# lost its title, or a merge marker (a stray "=======" once sat in
# design.rst and rendered as text); docutils takes it for text, silently.
ADORNMENT = re.compile(r"^([=\-~^\"'`#*+<>])\1{3,}$")
CONFLICT = re.compile(r"^(<{7}|>{7})( |$)")


def _warn_stray_adornments(app, doctree):
    for paragraph in doctree.findall(nodes.paragraph):
        for line in paragraph.rawsource.splitlines():
            if ADORNMENT.match(line.strip()):
                LOG.warning("a line of %r inside a paragraph (a merge "
                            "marker, or a title without its title line)",
                            line.strip(), location=paragraph)


def _warn_conflict_markers(app, docname, source):
    for number, line in enumerate(source[0].splitlines(), 1):
        if CONFLICT.match(line):
            LOG.warning("merge conflict marker %r", line.strip(),
                        location=(docname, number))


def setup(app):
    app.connect("doctree-read", _warn_stray_adornments)
    app.connect("source-read", _warn_conflict_markers)
