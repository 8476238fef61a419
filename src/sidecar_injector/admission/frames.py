"""The frames the worker and its injection engines exchange over pipes and sockets.

A frame is two big-endian 32-bit sizes, then a JSON head and a binary blob (the pod's JSON
going in, the patch's JSON coming back). Exactly one frame is in flight each way at a time.
"""

from __future__ import annotations

import os
import struct

import orjson

from sidecar_injector.config import JSON

Head = dict[str, JSON]
Frame = tuple[Head, bytes]
Parts = list[bytes | memoryview]
"""A frame as the pieces of one `os.writev`."""
_SIZES = struct.Struct(">II")
MAX_FRAME_BYTES = 64 * 1024 * 1024
"""A pod is at most the request body (6 MiB by default), a patch a few times that."""
FIRST_READ_BYTES = 64 * 1024
"""What the first read of a frame asks for: a typical frame (10 KB) arrives whole in it."""


class FrameError(Exception):
    """A frame that breaks the protocol: larger than `MAX_FRAME_BYTES`, or two at once."""


class Incoming:
    """The frame being read, fed one read at a time (blocking or not).

    The first read usually holds the whole frame, and it is parsed in place; a larger frame
    is gathered into one buffer of its announced size, bounded by `MAX_FRAME_BYTES`.
    """

    def __init__(self) -> None:
        self._start = b""
        self._whole: bytearray | None = None
        self._filled = 0

    def read(self, fd: int) -> Frame | None:
        """One read from `fd`: the frame once it is complete, else None. Raises EOFError at
        the pipe's end, BlockingIOError when a non-blocking pipe is empty, FrameError."""
        whole = self._whole
        if whole is None:
            return self.feed(os.read(fd, FIRST_READ_BYTES))
        with memoryview(whole) as view:
            count = os.readv(fd, [view[self._filled :]])
        if not count:
            raise EOFError
        self._filled += count
        if self._filled < len(whole):
            return None
        self._whole = None
        return _split(whole)

    def feed(self, chunk: bytes) -> Frame | None:
        """Bytes read by the caller (a socket's `recvmsg`); empty at the end of the stream."""
        if not chunk:
            raise EOFError
        if self._whole is not None:
            end = self._filled + len(chunk)
            if end > len(self._whole):
                raise FrameError("a second frame before the first was answered")
            self._whole[self._filled : end] = chunk
            self._filled = end
            if end < len(self._whole):
                return None
            whole, self._whole = self._whole, None
            return _split(whole)
        self._start += chunk
        return self._parse_start()

    def _parse_start(self) -> Frame | None:
        start = self._start
        if len(start) < _SIZES.size:
            return None
        head_size, blob_size = _SIZES.unpack_from(start)
        size = _SIZES.size + head_size + blob_size
        if size > MAX_FRAME_BYTES:
            raise FrameError(f"a frame of {size} bytes, more than {MAX_FRAME_BYTES}")
        if len(start) > size:
            raise FrameError("a second frame before the first was answered")
        self._start = b""
        if len(start) == size:
            return _split(start)
        self._whole = bytearray(size)
        self._whole[: len(start)] = start
        self._filled = len(start)
        return None


def _split(frame: bytes | bytearray) -> Frame:
    head_size, _ = _SIZES.unpack_from(frame)
    with memoryview(frame) as view:
        head = orjson.loads(view[_SIZES.size : _SIZES.size + head_size])
        return head, bytes(view[_SIZES.size + head_size :])


def frame_parts(head: Head, blob: bytes) -> Parts:
    """A frame as the pieces one `os.writev` sends: the blob is not copied."""
    encoded = orjson.dumps(head)
    return [_SIZES.pack(len(encoded), len(blob)), encoded, blob]


def unwritten(parts: Parts, written: int) -> Parts:
    """What of `parts` remains after `written` bytes were sent."""
    for index, part in enumerate(parts):
        if written < len(part):
            return [memoryview(part)[written:], *parts[index + 1 :]]
        written -= len(part)
    return []


def write_frame(fd: int, head: Head, blob: bytes) -> None:
    """Send a frame on a blocking pipe."""
    parts = frame_parts(head, blob)
    while parts:
        parts = unwritten(parts, os.writev(fd, parts))
