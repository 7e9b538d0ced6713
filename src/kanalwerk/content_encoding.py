"""Undoing a response's Content-Encoding a bounded piece at a time.

httpx decodes each network chunk in one call, so one 2.5 KB chunk of `gzip, gzip` over
a gigabyte of zeros becomes a gigabyte in memory before anyone can count it. Here every
layer produces at most `PIECE` bytes per step, and the next layer (and finally the
caller's size cap) sees each piece before more is made: memory stays at the cap plus a
few pieces, whatever the stack of encodings.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

from kanalwerk.errors import FetchError

__all__ = ["ACCEPT_ENCODING", "MAX_LAYERS", "PIECE", "ContentDecoder"]

#: What we ask for: exactly the encodings decoded here.
ACCEPT_ENCODING = "gzip, deflate"

#: Largest piece one layer hands on in one step.
PIECE = 64 * 1024

#: More layers than this is no feed server's doing.
MAX_LAYERS = 3


class _Zlib:
    """gzip or deflate; `deflate` may be zlib-wrapped (as specified) or raw (as often sent).

    A gzip body may hold several members, one after the other (RFC 1952); they are
    decoded as one. A body whose stream does not end is cut short, never taken as whole.
    """

    def __init__(self, encoding: str):
        self._encoding = encoding
        self._wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
        self._inflate = zlib.decompressobj(self._wbits)
        # Input taken while `deflate` may still be raw: zlib checks its two-byte header
        # only once it has both, so one byte decides nothing.
        self._undecided: bytes | None = b"" if encoding == "deflate" else None
        self._fed = False
        self._later_member = False  # decoding a gzip member after the first
        self._ended = False  # the stream ended; what follows is ignored

    def decode(self, data: bytes) -> Iterator[bytes]:
        self._fed = self._fed or bool(data)
        pending = data
        while True:
            out = self._step(pending)
            pending = b"" if self._ended else self._inflate.unconsumed_tail
            if self._inflate.eof and self._encoding == "gzip" and self._inflate.unused_data:
                pending = self._next_member(pending)
            if out:
                yield out
            # A full piece may leave output inside zlib even when all input is taken.
            if not pending and len(out) < PIECE:
                return

    def finish(self) -> Iterator[bytes]:
        yield from self.decode(b"")
        if self._fed and not (self._ended or self._inflate.eof):
            raise FetchError(f"the {self._encoding} body is cut short; try again later")

    def _next_member(self, pending: bytes) -> bytes:
        """Input for the gzip member after the one that ended; NUL padding is skipped."""
        rest = self._inflate.unused_data + pending
        if not rest.strip(b"\0"):
            return b""  # padding so far; the decompressor keeps it as unused data
        self._inflate = zlib.decompressobj(self._wbits)
        self._later_member = True
        return rest.lstrip(b"\0")

    def _step(self, data: bytes) -> bytes:
        if self._ended or (self._inflate.eof and self._encoding != "gzip"):
            return b""  # anything after the end of the stream is ignored
        try:
            out = self._inflate.decompress(data, PIECE)
        except zlib.error as exc:
            if self._later_member and not self._inflate.unused_data:
                self._ended = True  # trailing bytes that are no gzip member, as browsers
                return b""
            if self._undecided is None:
                raise FetchError(f"the {self._encoding} body is corrupt: {exc}") from exc
            seen, self._undecided = self._undecided + data, None
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._step(seen)
        if self._undecided is not None:
            self._undecided += data
            if out or len(self._undecided) >= 2:
                self._undecided = None
        return out


_ALIASES = {"x-gzip": "gzip"}
_DECODED = frozenset({"gzip", "deflate"})


class ContentDecoder:
    """The inverse of a Content-Encoding stack, e.g. `["gzip", "gzip"]`, fed raw chunks."""

    def __init__(self, encodings: Sequence[str]):
        names = [_ALIASES.get(n, n) for n in (e.strip().lower() for e in encodings)]
        names = [n for n in names if n and n != "identity"]
        if len(names) > MAX_LAYERS:
            raise FetchError(
                f"the server stacked {len(names)} content encodings ({', '.join(names)}); "
                f"at most {MAX_LAYERS} are accepted"
            )
        unknown = [n for n in names if n not in _DECODED]
        if unknown:
            raise FetchError(
                f"the server sent Content-Encoding {unknown[0]!r}, which kanalwerk cannot "
                f"decode (it asks for {ACCEPT_ENCODING})"
            )
        # Encodings are listed in the order applied: the last one is undone first.
        self._layers = [_Zlib(n) for n in reversed(names)]

    @property
    def layers(self) -> int:
        """How many encodings are undone (0: the body is sent as is)."""
        return len(self._layers)

    def decode(self, chunk: bytes) -> Iterator[bytes]:
        """Decoded pieces of one raw chunk, each at most `PIECE` bytes (identity: as given)."""
        return _through(self._layers, chunk)

    def finish(self) -> Iterator[bytes]:
        """What the layers still hold once the raw body has ended."""
        for index, layer in enumerate(self._layers):
            for piece in layer.finish():
                yield from _through(self._layers[index + 1 :], piece)


def _through(layers: Sequence[_Zlib], data: bytes) -> Iterator[bytes]:
    if not layers:
        if data:
            yield data
        return
    for piece in layers[0].decode(data):
        yield from _through(layers[1:], piece)
