"""Bank keys: relative, '/'-separated, unable to escape the bank."""

import pytest

from protection import exceptions
from protection.bank import keys


@pytest.mark.parametrize("key", [
    "checkpoints/0b7c-11/index.json",
    "checkpoints/c1/resources/OS::Cinder::Volume/v-1/metadata.json",
    "checkpoints/c1/resources/OS::Nova::Server/abc/metadata.json",
    "resources/OS::Heat::Stack/s1/data",
    "a",
    "a.b_c-d@e=f+g:h",
    "...",                     # a name made of dots, not a path step
    "x" * keys.MAX_KEY_LENGTH,
])
def test_accepts_safe_keys(key):
    assert keys.validate_key(key) == key


@pytest.mark.parametrize("key, reason", [
    ("..", "'..'"),
    ("../etc/passwd", "'..'"),
    ("checkpoints/../../etc", "'..'"),
    ("a/..", "'..'"),
    (".", "'.'"),
    ("a/./b", "'.'"),
    ("a//b", "empty"),
    ("a/", "empty"),
    ("/etc/passwd", "absolute"),
    ("/", "absolute"),
    ("a\\b", "characters"),
    ("..\\..\\windows", "characters"),
    ("C:\\x", "characters"),
    ("a b", "characters"),
    (" a", "characters"),
    ("a\tb", "characters"),
    ("a\x00b", "characters"),
    ("a\x1bb", "characters"),
    ("a\x7fb", "characters"),
    ("caf\u00e9", "characters"),
    ("x" * (keys.MAX_KEY_LENGTH + 1), "longer"),
])
def test_rejects_unsafe_keys(key, reason):
    with pytest.raises(exceptions.InvalidBankKey) as err:
        keys.validate_key(key)
    assert reason in str(err.value)
    assert err.value.key == key
    assert isinstance(err.value, exceptions.BankError)


@pytest.mark.parametrize("key", ["abc\n", "a/b\n", "a\n/b", "a\r", "\na"])
def test_rejects_line_breaks_anywhere_including_the_end(key):
    # A regex anchored with '$' lets a trailing newline through.
    with pytest.raises(exceptions.InvalidBankKey):
        keys.validate_key(key)


@pytest.mark.parametrize("key", ["", None, b"a/b", 3])
def test_rejects_empty_and_non_strings(key):
    with pytest.raises(exceptions.InvalidBankKey, match="non-empty string"):
        keys.validate_key(key)


def test_join_key_joins_and_validates():
    assert keys.join_key("checkpoints", "c1/", "/index.json") == \
        "checkpoints/c1/index.json"
    assert keys.join_key("a", "", "b") == "a/b"
    with pytest.raises(exceptions.InvalidBankKey):
        keys.join_key("checkpoints", "..", "x")


@pytest.mark.parametrize("prefix", ["", "checkpoints/", "checkpoints/c1",
                                    "checkpoints/c1/resources/OS::X::Y/"])
def test_prefix_accepts_keys_and_directory_prefixes(prefix):
    assert keys.validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/etc/", "../", "a/../",
                                    "a b/"])
def test_prefix_rejects_escapes(prefix):
    with pytest.raises(exceptions.InvalidBankKey):
        keys.validate_prefix(prefix)
