"""protection.transfer.streaming: fixed-size pieces of a stream, single-pass
bodies."""

import pytest

from protection.transfer import streaming


def pieces(chunks, size):
    return [b"".join(piece) for piece in streaming.split(chunks, size)]


@pytest.mark.parametrize("chunk_sizes", [[4, 4, 4], [1] * 12, [5, 7],
                                         [12], [3, 0, 9], [11, 1]])
def test_split_cuts_exact_pieces_whatever_the_chunking(chunk_sizes):
    data = bytes(range(12))
    chunks, at = [], 0
    for n in chunk_sizes:
        chunks.append(data[at:at + n])
        at += n
    assert pieces(chunks, 4) == [data[0:4], data[4:8], data[8:12]]
    assert pieces(chunks, 5) == [data[0:5], data[5:10], data[10:12]]
    assert pieces(chunks, 100) == [data]


def test_split_of_nothing_is_no_piece():
    assert pieces([], 4) == []
    assert pieces([b"", b""], 4) == []


def test_split_passes_whole_chunks_without_copying():
    chunk = b"x" * 8
    got = [c for piece in streaming.split([chunk, chunk], 8) for c in piece]
    assert got[0] is chunk and got[1] is chunk


def test_split_drains_a_piece_left_half_read():
    out = []
    for piece in streaming.split([b"abcd", b"efgh", b"ij"], 4):
        out.append(next(piece))       # read only the first chunk
    assert out == [b"abcd", b"efgh", b"ij"]


def test_split_is_lazy():
    pulled = []

    def source():
        for i in range(5):
            pulled.append(i)
            yield bytes([i]) * 4

    it = streaming.split(source(), 8)
    first = next(it)
    assert pulled == [0]
    assert b"".join(first) == b"\0" * 4 + b"\1" * 4
    assert pulled == [0, 1]


def test_split_rejects_a_nonpositive_size():
    with pytest.raises(ValueError):
        streaming.Splitter([], 0)


def test_single_pass_sends_and_counts():
    body = streaming.SinglePass(iter([b"ab", b"cde"]))
    assert b"".join(body) == b"abcde"
    assert body.sent == 5 and body.error is None


def test_single_pass_refuses_a_second_pass():
    body = streaming.SinglePass(iter([b"ab", b"cd"]))
    it = iter(body)
    next(it)
    with pytest.raises(streaming.SinglePass.Replayed, match="sent once"):
        iter(body)
    assert isinstance(body.error, streaming.SinglePass.Replayed)


def test_single_pass_keeps_the_source_error():
    def source():
        yield b"ab"
        raise ValueError("bank object corrupt")

    body = streaming.SinglePass(source())
    with pytest.raises(ValueError):
        list(body)
    assert str(body.error) == "bank object corrupt"


def test_single_pass_limit():
    body = streaming.SinglePass(iter([b"abc", b"def", b"g"]), limit=6)
    with pytest.raises(streaming.SinglePass.TooLarge):
        list(body)
    assert body.sent == 6
    ok = streaming.SinglePass(iter([b"abc", b"def"]), limit=6)
    assert b"".join(ok) == b"abcdef"


def test_single_pass_closed_early_is_not_an_error():
    body = streaming.SinglePass(iter([b"ab", b"cd"]))
    it = iter(body)
    next(it)
    it.close()
    assert body.error is None


def test_background_hashes_equal_serial_hashes():
    import hashlib
    import os
    chunks = [os.urandom(n) for n in (1, 5000, 70000, 0, 3)]
    a, b = hashlib.sha256(), hashlib.md5()
    with streaming.BackgroundHashes(a, b) as hashes:
        for chunk in chunks:
            hashes.update(chunk)
    data = b"".join(chunks)
    assert a.hexdigest() == hashlib.sha256(data).hexdigest()
    assert b.hexdigest() == hashlib.md5(data).hexdigest()


def test_background_hashes_keep_one_chunk_in_flight_and_stop_threads():
    import threading

    class Slow:
        def __init__(self):
            self.seen = []
            self.gate = threading.Event()

        def update(self, chunk):
            self.gate.wait(5)
            self.seen.append(chunk)

    slow = Slow()
    hashes = streaming.BackgroundHashes(slow)
    hashes.update(b"1")
    done = threading.Event()

    def second():
        hashes.update(b"2")      # must wait for b"1" to be hashed
        done.set()

    t = threading.Thread(target=second)
    t.start()
    assert not done.wait(0.2)
    slow.gate.set()
    t.join(5)
    hashes.close()
    assert slow.seen == [b"1", b"2"]
    assert not any(th.name.startswith("stackvault-hash")
                   for th in threading.enumerate())


def test_background_hashes_with_no_hash_is_a_no_op():
    with streaming.BackgroundHashes() as hashes:
        hashes.update(b"x")
