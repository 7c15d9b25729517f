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
    "/".join(["x" * 254] * 4 + ["x" * 4]),     # MAX_KEY_LENGTH long
    "x" * keys.MAX_PART_LENGTH,
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
    ("my key", "characters"),
    ("x" * (keys.MAX_KEY_LENGTH + 1), "longer"),
    ("checkpoints/" + "9" * (keys.MAX_PART_LENGTH + 1), "longer"),
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



# -- ids as key parts ---------------------------------------------------------
@pytest.mark.parametrize("text", [
    "0b7c5e1a-55f2-4b1e-9d0c-1a2b3c4d5e6f",       # a cloud's uuid
    "deploy", "ci_key-2", "user@host.example", "a.b_c-d@e=f+g:h",
    "OS::Nova::KeyPair", "...", ".hidden", "x" * 300,
])
def test_an_id_that_keys_accept_is_its_own_part(text):
    # The keys of checkpoints written before the encoding stay the same.
    assert keys.encode_part(text) == text
    assert keys.decode_part(text) == text


@pytest.mark.parametrize("text, part", [
    ("my key", "my%20key"),
    ("50%", "50%25"),
    ("%20", "%2520"),                 # a '%' in the id is never an escape
    ("a/b", "a%2Fb"),
    ("../etc/passwd", "..%2Fetc%2Fpasswd"),
    ("..", "%2E%2E"),
    (".", "%2E"),
    ("a\\b", "a%5Cb"),
    ("tab\there", "tab%09here"),
    ("new\nline", "new%0Aline"),
    ("nul\x00", "nul%00"),
    ("caf\u00e9", "caf%C3%A9"),
    ("\U0001f511 key", "%F0%9F%94%91%20key"),
    ("~!#$&'()*,;?[]", "%7E%21%23%24%26%27%28%29%2A%2C%3B%3F%5B%5D"),
])
def test_other_ids_are_percent_encoded_and_round_trip(text, part):
    assert keys.encode_part(text) == part
    assert keys.decode_part(part) == text
    # a safe single part: no '/', no path step, no control character
    assert keys.validate_key(part) == part
    assert "/" not in part and part not in (".", "..")
    assert all(c.isascii() and c.isprintable() for c in part)


def test_a_key_built_from_encoded_parts_stays_in_the_bank():
    key = keys.join_key("checkpoints", "c1", "resources",
                        keys.encode_part("OS::Nova::KeyPair"),
                        keys.encode_part("../../.."), "metadata.json")
    assert key == ("checkpoints/c1/resources/OS::Nova::KeyPair/"
                   "..%2F..%2F../metadata.json")
    assert len(key.split("/")) == 6


@pytest.mark.parametrize("text", ["", None, 3, b"id"])
def test_encode_refuses_what_is_not_an_id(text):
    with pytest.raises(exceptions.InvalidBankKey, match="non-empty string"):
        keys.encode_part(text)


@pytest.mark.parametrize("part", [
    "%2e",            # lower-case hex: encode_part writes upper case
    "%41",            # 'A' escaped: encode_part keeps it
    "%zz", "%", "a%2",
    "%FF",            # not UTF-8
    "my key",         # a space: encode_part escapes it
    "",
])
def test_decode_reads_only_what_encode_writes(part):
    with pytest.raises(exceptions.InvalidBankKey, match="names an id"):
        keys.decode_part(part)
