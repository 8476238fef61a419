"""Frames between the worker and its engines: split, gathered, bounded."""

from __future__ import annotations

import os
import struct
import threading
from typing import Any

import pytest

from sidecar_injector.admission import frames


def test_a_frame_split_across_reads_is_read_whole() -> None:
    blob = bytes(range(256)) * 400
    data = b"".join(frames.frame_parts({"op": "admit", "n": 1}, blob))
    incoming = frames.Incoming()
    ours, theirs = os.pipe()
    try:
        cuts = (3, 20, 60_000, len(data))
        answers = []
        for start, end in zip((0, *cuts), cuts, strict=False):
            os.write(theirs, data[start:end])
            answers.append(incoming.read(ours))
        assert answers[:-1] == [None] * (len(cuts) - 1)
        assert answers[-1] == ({"op": "admit", "n": 1}, blob)
        os.close(theirs)
        with pytest.raises(EOFError):
            incoming.read(ours)
    finally:
        os.close(ours)


def test_a_frame_over_the_limit_or_a_second_frame_breaks_the_protocol() -> None:
    frame = b"".join(frames.frame_parts({"op": "admit"}, b"pod"))
    ours, theirs = os.pipe()
    try:
        os.write(theirs, frame + frame)
        with pytest.raises(frames.FrameError, match="second frame"):
            frames.Incoming().read(ours)
        os.write(theirs, struct.pack(">II", 10, frames.MAX_FRAME_BYTES))
        with pytest.raises(frames.FrameError, match="more than"):
            frames.Incoming().read(ours)
    finally:
        os.close(ours)
        os.close(theirs)


def test_a_frame_larger_than_a_pipe_crosses_a_blocking_pipe() -> None:
    blob = os.urandom(3 * 1024 * 1024)
    ours, theirs = os.pipe()
    incoming = frames.Incoming()
    received: list[Any] = []

    def reader() -> None:
        while (frame := incoming.read(ours)) is None:
            pass
        received.append(frame)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        frames.write_frame(theirs, {"op": "admit"}, blob)
    finally:
        thread.join(30)
        os.close(ours)
        os.close(theirs)
    assert received == [({"op": "admit"}, blob)]


def test_only_unwritten_parts_are_sent_again() -> None:
    parts = frames.frame_parts({"a": 1}, b"0123456789")
    whole = b"".join(parts)
    for written in range(len(whole) + 1):
        assert b"".join(frames.unwritten(parts, written)) == whole[written:]


def test_chunks_fed_from_a_socket_make_one_frame_each() -> None:
    data = b"".join(frames.frame_parts({"op": "load"}, b"x" * 100_000))
    incoming = frames.Incoming()
    assert incoming.feed(data[:5]) is None
    assert incoming.feed(data[5:70_000]) is None
    assert incoming.feed(data[70_000:]) == ({"op": "load"}, b"x" * 100_000)
    assert incoming.feed(data[:10]) is None
    with pytest.raises(frames.FrameError, match="second frame"):
        incoming.feed(data[10:] + b"more")
    with pytest.raises(EOFError):
        frames.Incoming().feed(b"")
