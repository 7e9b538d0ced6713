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
    """gzip or deflate; `deflate` may be zlib-wrapped (as specified) or raw (as often sent)."""

    def __init__(self, encoding: str):
        self._encoding = encoding
        self._may_be_raw = encoding == "deflate"
        wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
        self._inflate = zlib.decompressobj(wbits)

    def decode(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while True:
            out = self._step(pending)
            pending = self._inflate.unconsumed_tail
            if out:
                yield out
            # A full piece may leave output inside zlib even when all input is taken.
            if not pending and len(out) < PIECE:
                return

    def finish(self) -> Iterator[bytes]:
        return self.decode(b"")

    def _step(self, data: bytes) -> bytes:
        try:
            out = self._inflate.decompress(data, PIECE)
        except zlib.error as exc:
            if not self._may_be_raw:
                raise FetchError(f"the {self._encoding} body is corrupt: {exc}") from exc
            self._may_be_raw = False
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._step(data)
        if out or data:
            self._may_be_raw = False
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
