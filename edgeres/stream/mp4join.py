"""Join MP4 segments into one MP4 without decoding: the samples are copied, the index rebuilt.

``--save`` records in segments of a few seconds so that a power cut keeps all but the last one;
when the run ends the segments become one file. Re-encoding an hour of video would take minutes
on a Raspberry Pi and lose quality; copying the compressed samples takes seconds.

It handles what OpenCV's writer makes: one video track, the same sample description (codec, size)
in every segment, ``moov`` after ``mdat``. Anything else raises ``ValueError``.
"""

from __future__ import annotations

import struct
from pathlib import Path

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """``(type, payload start, box end)`` of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    out, off = [], start
    while off + 8 <= end:
        size, typ = struct.unpack_from(">I4s", data, off)
        head = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, off + 8)
            head = 16
        elif size == 0:
            size = end - off
        if size < head or off + size > end:
            raise ValueError(f"truncated '{typ.decode(errors='replace')}' box at byte {off}")
        out.append((typ, off + head, off + size))
        off += size
    return out


def _box(typ: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), typ) + payload


def _find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> bytes:
    for typ, body, stop in _boxes(data, start, end):
        if typ == path[0]:
            return data[body:stop] if len(path) == 1 else _find(data, path[1:], body, stop)
    raise ValueError(f"no '{path[0].decode()}' box")


def _moov(path: Path) -> bytes:
    """The ``moov`` box of ``path`` (read from the end, where OpenCV writes it)."""
    with path.open("rb") as fh:
        top = _boxes_of_file(fh)
        for typ, body, stop in top:
            if typ == b"moov":
                fh.seek(body)
                return fh.read(stop - body)
    raise ValueError(f"'{path}' has no index (moov box): the recording was cut off")


def _boxes_of_file(fh) -> list[tuple[bytes, int, int]]:
    fh.seek(0, 2)
    end, off, out = fh.tell(), 0, []
    while off + 8 <= end:
        fh.seek(off)
        size, typ = struct.unpack(">I4s", fh.read(8))
        head = 8
        if size == 1:
            (size,) = struct.unpack(">Q", fh.read(8))
            head = 16
        elif size == 0:
            size = end - off
        if size < head or off + size > end:
            break  # a cut-off last box
        out.append((typ, off + head, off + size))
        off += size
    return out


def check_segment(path: str | Path) -> int:
    """The number of frames in a finished segment; ``ValueError`` if it is incomplete."""
    return len(_track(_moov(Path(path)))["sizes"])


def _track(moov: bytes) -> dict:
    """The tables of the one video track in ``moov``."""
    traks = [t for t in _boxes(moov) if t[0] == b"trak"]
    if len(traks) != 1:
        raise ValueError(f"expected one track, found {len(traks)}")
    stbl = _find(moov, [b"trak", b"mdia", b"minf", b"stbl"])
    sizes = _stsz(_find(stbl, [b"stsz"]))
    offsets = _sample_offsets(stbl, sizes)
    n_stts = struct.unpack_from(">I", _find(stbl, [b"stts"]), 4)[0]
    stts = list(struct.iter_unpack(">II", _find(stbl, [b"stts"])[8 : 8 + 8 * n_stts]))
    try:
        stss_box = _find(stbl, [b"stss"])
        n = struct.unpack_from(">I", stss_box, 4)[0]
        sync = [s for (s,) in struct.iter_unpack(">I", stss_box[8 : 8 + 4 * n])]
    except ValueError:
        sync = None  # every sample is a key frame
    return {"stsd": _find(stbl, [b"stsd"]), "sizes": sizes, "offsets": offsets, "stts": stts,
            "sync": sync}  # fmt: skip


def _stsz(box: bytes) -> list[int]:
    uniform, count = struct.unpack_from(">II", box, 4)
    if uniform:
        return [uniform] * count
    return [s for (s,) in struct.iter_unpack(">I", box[12 : 12 + 4 * count])]


def _sample_offsets(stbl: bytes, sizes: list[int]) -> list[int]:
    """File offset of each sample, from the chunk offsets and the sample-to-chunk table."""
    try:
        co = _find(stbl, [b"stco"])
        chunks = [c for (c,) in struct.iter_unpack(">I", co[8 : 8 + 4 * _count(co)])]
    except ValueError:
        co = _find(stbl, [b"co64"])
        chunks = [c for (c,) in struct.iter_unpack(">Q", co[8 : 8 + 8 * _count(co)])]
    stsc = _find(stbl, [b"stsc"])
    runs = list(struct.iter_unpack(">III", stsc[8 : 8 + 12 * _count(stsc)]))
    offsets, sample = [], 0
    for i, chunk_start in enumerate(chunks):
        chunk_no = i + 1
        per_chunk = next(n for first, n, _ in reversed(runs) if first <= chunk_no)
        off = chunk_start
        for _ in range(per_chunk):
            if sample >= len(sizes):
                break
            offsets.append(off)
            off += sizes[sample]
            sample += 1
    if len(offsets) != len(sizes):
        raise ValueError("sample tables disagree")
    return offsets


def _count(box: bytes) -> int:
    return struct.unpack_from(">I", box, 4)[0]


def join_segments(segments: list[Path], out: Path) -> int:
    """Write ``segments`` (in order) as one MP4 at ``out``; return the frame count.

    ``out`` is written directly: callers give it a temp name (``fileio.atomic_path``).
    """
    moovs = [_moov(p) for p in segments]
    tracks = [_track(m) for m in moovs]
    # Codec (fourcc) and frame size must agree; the rest of the sample description carries
    # per-segment bit rates, which do not matter to a decoder.
    if any(_entry(t["stsd"]) != _entry(tracks[0]["stsd"]) for t in tracks):
        raise ValueError("the segments differ in codec or frame size")
    with segments[0].open("rb") as fh:
        first = _boxes_of_file(fh)[0]
        fh.seek(0)
        ftyp = fh.read(first[2]) if first[0] == b"ftyp" else b""
    total = sum(sum(t["sizes"]) for t in tracks)
    data_start = len(ftyp) + 16
    with out.open("wb") as dst:
        dst.write(ftyp + struct.pack(">I4sQ", 1, b"mdat", 16 + total))
        for path, track in zip(segments, tracks, strict=True):
            with path.open("rb") as src:
                for off, size in zip(track["offsets"], track["sizes"], strict=True):
                    src.seek(off)
                    dst.write(src.read(size))
        dst.write(_joined_moov(moovs[0], tracks, data_start))
    return sum(len(t["sizes"]) for t in tracks)


def _entry(stsd: bytes) -> bytes:
    return stsd[12:16] + stsd[40:44]  # the first sample entry's fourcc, width and height


def _joined_moov(moov: bytes, tracks: list[dict], data_start: int) -> bytes:
    sizes = [s for t in tracks for s in t["sizes"]]
    offsets, off = [], data_start
    for s in sizes:
        offsets.append(off)
        off += s
    stts: list[tuple[int, int]] = []
    for count, delta in (e for t in tracks for e in t["stts"]):
        if stts and stts[-1][1] == delta:
            stts[-1] = (stts[-1][0] + count, delta)
        else:
            stts.append((count, delta))
    sync, first = [], 0
    for t in tracks:
        sync += (
            [first + s for s in t["sync"]]
            if t["sync"] is not None
            else [first + i + 1 for i in range(len(t["sizes"]))]
        )
        first += len(t["sizes"])
    media = sum(c * d for c, d in stts)
    tables = {
        b"stts": _full(
            struct.pack(">I", len(stts)) + b"".join(struct.pack(">II", *e) for e in stts)
        ),
        b"stss": _full(struct.pack(">I", len(sync)) + struct.pack(f">{len(sync)}I", *sync)),
        b"stsz": _full(struct.pack(">II", 0, len(sizes)) + struct.pack(f">{len(sizes)}I", *sizes)),
        b"stsc": _full(struct.pack(">IIII", 1, 1, 1, 1)),  # one sample per chunk
        b"co64": _full(
            struct.pack(">I", len(offsets)) + struct.pack(f">{len(offsets)}Q", *offsets)
        ),
    }
    media_scale = _timescale(_find(moov, [b"trak", b"mdia", b"mdhd"]))
    movie_scale = _timescale(_find(moov, [b"mvhd"]))
    durations = {b"mdhd": media, b"mvhd": media * movie_scale // media_scale}
    durations[b"tkhd"] = durations[b"mvhd"]
    return _box(b"moov", _rebuild(moov, tables, durations))


def _full(payload: bytes) -> bytes:
    return b"\0\0\0\0" + payload  # version 0, no flags


def _timescale(header: bytes) -> int:
    return struct.unpack_from(">I", header, 20 if header[0] == 1 else 12)[0]


def _rebuild(data: bytes, tables: dict, durations: dict) -> bytes:
    out = b""
    for typ, body, stop in _boxes(data):
        payload = data[body:stop]
        if typ in _CONTAINERS:
            out += _box(typ, _rebuild(payload, tables, durations))
        elif typ in (b"stts", b"stss", b"stsz", b"stsc", b"stco", b"co64"):
            continue  # replaced below, in the stbl
        elif typ == b"edts":
            continue  # the edit list repeats the old duration; without it the track plays as is
        elif typ in durations:
            out += _box(typ, _with_duration(typ, payload, durations[typ]))
        else:
            out += _box(typ, payload)
    if any(t == b"stsd" for t, _, _ in _boxes(data)):
        out += b"".join(_box(t, p) for t, p in tables.items())
    return out


def _with_duration(typ: bytes, payload: bytes, duration: int) -> bytes:
    v1 = payload[0] == 1
    at = {b"mvhd": 24 if v1 else 16, b"mdhd": 24 if v1 else 16, b"tkhd": 28 if v1 else 20}[typ]
    if v1:
        return payload[:at] + struct.pack(">Q", duration) + payload[at + 8 :]
    if duration >= 1 << 32:
        raise ValueError("the joined recording is too long for a version-0 header")
    return payload[:at] + struct.pack(">I", duration) + payload[at + 4 :]
