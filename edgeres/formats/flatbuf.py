"""A bounds-checked reader for the parts of the TFLite flatbuffer that edgeres and LiteRT read.

The ``flatbuffers`` Python package has no verifier and the C++ interpreter can crash on a
malformed file, so every offset, vector and string reachable from the tables the interpreter
reads is checked here before a file reaches it. Field numbers follow the TFLite schema
(``schema.fbs``); only the fields that matter are named.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


class Malformed(Exception):
    """The bytes are not a well-formed flatbuffer of the expected shape."""


@dataclass(frozen=True)
class Table:
    """One flatbuffer table: where it starts and where its vtable says its fields are."""

    pos: int
    vtable: int
    vt_size: int
    size: int


class Reader:
    """Bounds-checked access to a flatbuffer held in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.n = len(data)

    def _need(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or size < 0 or pos + size > self.n:
            raise Malformed(f"{what} at byte {pos} (+{size}) lies outside the {self.n}-byte file")

    def scalar(self, fmt: str, pos: int) -> int | float:
        size = struct.calcsize(fmt)
        self._need(pos, size, "value")
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def deref(self, pos: int) -> int:
        """Follow the unsigned forward offset stored at ``pos``."""
        target = pos + int(self.scalar("I", pos))
        self._need(target, 4, "offset target")
        return target

    def table(self, pos: int) -> Table:
        self._need(pos, 4, "table")
        vtable = pos - int(self.scalar("i", pos))
        self._need(vtable, 4, "vtable")
        vt_size, size = int(self.scalar("H", vtable)), int(self.scalar("H", vtable + 2))
        if vt_size < 4 or vt_size % 2 or size < 4:
            raise Malformed(f"vtable at byte {vtable} has impossible sizes {vt_size}/{size}")
        self._need(vtable, vt_size, "vtable")
        self._need(pos, size, "table")
        return Table(pos, vtable, vt_size, size)

    def field(self, t: Table, index: int, size: int) -> int | None:
        """Absolute position of field ``index`` (``size`` bytes) or None when absent."""
        slot = 4 + 2 * index
        if slot + 2 > t.vt_size:
            return None
        off = int(self.scalar("H", t.vtable + slot))
        if off == 0:
            return None
        if off + size > t.size:
            raise Malformed(f"field {index} of the table at byte {t.pos} overruns the table")
        return t.pos + off

    def get(self, t: Table, index: int, fmt: str, default: int | float = 0) -> int | float:
        pos = self.field(t, index, struct.calcsize(fmt))
        return default if pos is None else self.scalar(fmt, pos)

    def vector(self, t: Table, index: int, elem_size: int) -> tuple[int, int]:
        """``(start, length)`` of a vector field; ``(0, 0)`` when absent."""
        pos = self.field(t, index, 4)
        if pos is None:
            return 0, 0
        start = self.deref(pos)
        count = int(self.scalar("I", start))
        self._need(start + 4, count * elem_size, "vector")
        return start + 4, count

    def scalars(self, t: Table, index: int, fmt: str) -> list:
        start, count = self.vector(t, index, struct.calcsize(fmt))
        if count == 0:
            return []
        return list(struct.unpack_from(f"<{count}{fmt}", self.data, start))

    def bytes_field(self, t: Table, index: int) -> bytes:
        start, count = self.vector(t, index, 1)
        return bytes(self.data[start : start + count])

    def string(self, t: Table, index: int) -> str:
        return self.bytes_field(t, index).decode("utf-8", errors="replace")

    def tables(self, t: Table, index: int) -> list[Table]:
        start, count = self.vector(t, index, 4)
        return [self.table(self.deref(start + 4 * i)) for i in range(count)]

    def subtable(self, t: Table, index: int) -> Table | None:
        pos = self.field(t, index, 4)
        return None if pos is None else self.table(self.deref(pos))


def root(data: bytes, identifier: bytes = b"TFL3") -> tuple[Reader, Table]:
    """Open a flatbuffer and check its file identifier."""
    r = Reader(data)
    if r.n < 8 or data[4:8] != identifier:
        raise Malformed(f"missing the '{identifier.decode()}' file identifier")
    return r, r.table(r.deref(0))
