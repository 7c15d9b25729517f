"""The plugin guide shows the example plugin as it is, every line of it.

doc/plugin-guide.rst marks each excerpt with ``.. excerpt: PATH`` before
its code block; each must be a contiguous piece of that file, and the
excerpts of plugins/keypair.py together must cover all of its lines.
"""

import re
import textwrap

from tests.fakes.paths import ROOT

GUIDE = ROOT / "doc" / "plugin-guide.rst"
EXAMPLE = "plugins/keypair.py"
EXCERPT = re.compile(
    r"^\.\. excerpt: (\S+)\n\n\.\. code-block:: \w+\n\n"
    r"((?:(?: {4}.*)?\n)+)", re.MULTILINE)


def excerpts():
    found = [(path, textwrap.dedent(body).strip("\n"))
             for path, body in EXCERPT.findall(GUIDE.read_text())]
    assert found, "no '.. excerpt:' blocks found in the plugin guide"
    return found


def _lines(text):
    return [line for line in text.splitlines() if line.strip()]


def _position(source, excerpt):
    """Where ``excerpt``'s lines start in ``source``'s, or -1 (indentation
    is relative: the guide dedents a method out of its class)."""
    want = _lines(excerpt)
    have = _lines(source)
    for indent in ("", "    ", "        "):
        shifted = [indent + line for line in want]
        for start in range(len(have) - len(shifted) + 1):
            if have[start:start + len(shifted)] == shifted:
                return start
    return -1


def test_every_excerpt_is_a_piece_of_its_file():
    for path, text in excerpts():
        source = (ROOT / path).read_text()
        assert _position(source, text) >= 0, (
            f"plugin guide excerpt of {path} is not in the file:\n{text}")


def test_the_excerpts_show_every_line_of_the_example():
    source = _lines((ROOT / EXAMPLE).read_text())
    shown = set()
    for path, text in excerpts():
        if path == EXAMPLE:
            start = _position("\n".join(source), text)
            assert start >= 0, f"not in {EXAMPLE}:\n{text}"
            shown.update(range(start, start + len(_lines(text))))
    missing = [source[i] for i in range(len(source)) if i not in shown]
    assert not missing, "the plugin guide does not show these lines of " \
        f"{EXAMPLE}:\n" + "\n".join(missing)


def test_the_guide_states_the_example_s_length():
    """The guide says how long the example is ("small enough (N lines)");
    N must be the file's length, give or take a tenth (it once said
    "under 150" of a 170-line file)."""
    stated = re.search(r"small enough \((\d+) lines\)", GUIDE.read_text())
    assert stated, "the plugin guide no longer states the example's length"
    actual = len((ROOT / EXAMPLE).read_text().splitlines())
    assert abs(int(stated.group(1)) - actual) <= actual // 10, (
        f"the plugin guide says {EXAMPLE} has {stated.group(1)} lines; it "
        f"has {actual}")
