"""Where the TC260 label lives in each file type, written and read back without re-encoding.

- MP4: key `AIGC` in moov/udta/meta (keys + ilst), written by ffmpeg with
  `-movflags use_metadata_tags` (without it ffmpeg exits 0 and silently drops the tag) and read
  back here by a small box parser that does not use ffmpeg, so the check is independent.
- WAV: a RIFF chunk named `AIGC` after the audio data.
- PNG: an iTXt `XML:com.adobe.xmp` chunk; JPEG: an APP1 XMP segment. Both carry XMP with the
  namespace http://www.tc260.org.cn/ns/AIGC/1.0/ and the element TC260:AIGC.

The integrity hash (ReservedCode1) covers the *content*, not the container: the coded samples of an
MP4 (track by track, as its sample tables list them), the samples of a WAV, the chunks or segments that
hold a PNG's or JPEG's coded picture. Metadata and C2PA boxes can then be added without changing it, while
any change to what is seen or heard does. It is read straight from the file: demuxing every packet and
decoding every pixel to hash them cost a render ~0.25 CPU-s (each file is hashed when labelled and when
checked). Labels written before hashed demuxed packets and decoded pixels; `legacy_content_hash` reads
those, so the check still accepts them.
"""

from __future__ import annotations

import hashlib
import html
import mmap
import re
import struct
import zlib
from pathlib import Path

from microdrama.errors import InputError, RenderError
from microdrama.files import atomic_path
from microdrama.media import run_ffmpeg

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
XMP_KEYWORD = b"XML:com.adobe.xmp"
JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


def kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    kinds = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4", ".wav": "wav", ".png": "png", ".jpg": "jpeg",
             ".jpeg": "jpeg"}
    if suffix not in kinds:
        raise InputError(f"{path}: cannot label {suffix or 'extensionless'} files; supported: MP4, WAV, PNG, JPEG")
    return kinds[suffix]


# ---- content hashes ------------------------------------------------------------------------------


def content_hash(path: Path) -> str:
    """The hash of what a file shows or plays (coded samples, coded picture), not of its metadata."""
    return _guarded(_content_hash, path)


def legacy_content_hash(path: Path) -> str:
    """The hash labels carried before this version: demuxed packets of an MP4, decoded pixels of an image."""
    return _guarded(_decoded_hash, path)


def _guarded(hasher, path: Path) -> str:
    kind = kind_of(path)  # an unsupported type says so itself
    try:
        return hasher(path)
    except (OSError, ValueError, EOFError, struct.error, InputError) as exc:  # PyAV, Pillow, the box and chunk readers
        raise InputError(f"{path.name} is not a {kind.upper()} file microdrama can read "
                         f"({str(exc).splitlines()[0][:120]}); label the exported file, not a placeholder") from None


PNG_PICTURE_CHUNKS = (b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"acTL", b"fcTL", b"fdAT")
JPEG_METADATA_MARKERS = frozenset([*range(0xE0, 0xF0), 0xFE])  # APP0-APP15 (JFIF, Exif, XMP, ICC, C2PA), COM
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0-SOF15 (C4 DHT, C8 JPG, CC DAC are not)


def _content_hash(path: Path) -> str:
    kind = kind_of(path)
    h = hashlib.sha256()
    if kind == "wav":
        h.update(_riff_chunks(path.read_bytes()).get(b"data", b""))
        return h.hexdigest()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if kind == "mp4":
            ranges = mp4_sample_ranges(data)
            if ranges is None:  # fragmented: samples live in moof boxes, which this reader does not walk
                return _decoded_hash(path)
            if not ranges or max(start + size for start, size in ranges) > len(data):
                raise ValueError("its sample tables point past the end of the file")
            for start, size in ranges:
                h.update(data[start:start + size])
        elif kind == "png":
            _hash_png_picture(data, h)
        else:
            _hash_jpeg_picture(data, h)
    return h.hexdigest()


def _hash_png_picture(data, h) -> None:
    """The chunks that make the picture, each checked against its CRC: a damaged PNG is refused, not hashed."""
    seen = []
    for ctype, payload, raw in _png_chunks(data):
        if ctype in PNG_PICTURE_CHUNKS:
            if len(raw) != len(payload) + 12 or struct.unpack(">I", raw[-4:])[0] != zlib.crc32(ctype + payload):
                raise ValueError(f"its {ctype.decode('latin-1')} chunk is damaged")
            h.update(ctype + payload)
        seen.append(ctype)
    if seen[:1] != [b"IHDR"] or b"IDAT" not in seen or seen[-1:] != [b"IEND"]:
        raise ValueError("it lacks the IHDR, IDAT or IEND chunk")


def _hash_jpeg_picture(data, h) -> None:
    """Every segment but metadata (APPn, COM), and the scans to the end-of-image marker."""
    frame = False
    for marker, _, raw in _jpeg_segments(data):
        if marker == 0xDA:  # the scans, to the end-of-image marker (never inside entropy-coded data)
            end = raw.find(b"\xff\xd9")
            if not frame or end < 0:
                raise ValueError("it has no frame header or no end-of-image marker")
            h.update(raw[:end + 2])
            return
        frame = frame or marker in JPEG_FRAME_MARKERS
        if marker not in JPEG_METADATA_MARKERS:
            h.update(raw)
    raise ValueError("it has no image data (no start-of-scan marker)")


def _decoded_hash(path: Path) -> str:
    kind = kind_of(path)
    h = hashlib.sha256()
    if kind == "mp4":
        import av

        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.size:
                    h.update(bytes(packet))
    elif kind == "wav":
        return _content_hash(path)
    else:
        from PIL import Image

        with Image.open(path) as im:
            h.update(f"{im.mode}{im.size}".encode())
            h.update(im.tobytes())
    return h.hexdigest()


def mp4_sample_ranges(data) -> list[tuple[int, int]] | None:
    """(offset, length) of every run of samples in an MP4, track by track in decode order, from each track's
    sample tables (stsz, stsc, stco/co64); None for a fragmented file. A run is one chunk: samples stored
    back to back."""
    import numpy as np

    moov = next(((s, e) for t, s, e in _boxes(data, 0, len(data)) if t == b"moov"), None)
    if moov is None:
        raise ValueError("no moov box")
    ranges: list[tuple[int, int]] = []
    for btype, ts, te in _boxes(data, *moov):
        if btype == b"mvex":
            return None
        if btype != b"trak":
            continue
        stbl = _child_path(data, ts, te, (b"mdia", b"minf", b"stbl"))
        if stbl is None:
            raise ValueError("a track without a sample table")
        tables = {t: (s, e) for t, s, e in _boxes(data, *stbl)}
        if b"stsz" not in tables or b"stsc" not in tables or not (b"stco" in tables or b"co64" in tables):
            raise ValueError("a track without stsz, stsc and stco")
        s, _ = tables[b"stsz"]
        fixed, count = struct.unpack(">II", data[s + 4:s + 12])
        sizes = (np.full(count, fixed, dtype=np.int64) if fixed else
                 np.frombuffer(data, ">u4", count, s + 12).astype(np.int64))
        s, _ = tables[b"stsc"]
        entries = np.frombuffer(data, ">u4", 3 * struct.unpack(">I", data[s + 4:s + 8])[0], s + 8).reshape(-1, 3)
        entries = entries.astype(np.int64)  # copies: nothing may keep a view of the mapped file
        wide = b"co64" in tables
        s, _ = tables[b"co64" if wide else b"stco"]
        offsets = np.frombuffer(data, ">u8" if wide else ">u4", struct.unpack(">I", data[s + 4:s + 8])[0],
                                s + 8).astype(np.int64)
        # samples per chunk: each stsc entry holds from its first chunk (1-based) up to the next entry's first
        firsts = np.append(entries[:, 0], len(offsets) + 1)
        per_chunk = np.repeat(entries[:, 1], np.diff(firsts))
        if per_chunk.sum() != count:
            raise ValueError("sample tables disagree on the number of samples")
        ends = np.cumsum(sizes)
        chunk_ends = np.cumsum(per_chunk)
        lengths = np.diff(np.concatenate(([0], ends[chunk_ends - 1]))) if count else np.zeros(0, dtype=np.int64)
        ranges += [(int(o), int(n)) for o, n in zip(offsets, lengths) if n]
    return ranges


def _child_path(data, start: int, end: int, path: tuple[bytes, ...]) -> tuple[int, int] | None:
    for name in path:
        found = next(((s, e) for t, s, e in _boxes(data, start, end) if t == name), None)
        if found is None:
            return None
        start, end = found
    return start, end


# ---- XMP -------------------------------------------------------------------------------------


def xmp_packet(label_json: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:TC260="{TC260_NS}"><TC260:AIGC>{html.escape(label_json, quote=False)}'
        "</TC260:AIGC></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
    ).encode("utf-8")


def label_from_xmp(xmp: bytes | str) -> str | None:
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
    if TC260_NS not in text:
        return None
    m = re.search(r"<TC260:AIGC>(.*?)</TC260:AIGC>", text, re.S)
    return html.unescape(m.group(1)) if m else None


# ---- writers -----------------------------------------------------------------------------------


def write_label(path: Path, label_json: str) -> None:
    """Embed the label in place (atomically: a temp file renamed over the original)."""
    kind = kind_of(path)
    with atomic_path(path) as tmp:
        if kind == "mp4":
            run_ffmpeg(["-i", str(path), "-map", "0", "-c", "copy", "-metadata", f"AIGC={label_json}",
                        "-movflags", "use_metadata_tags+faststart", str(tmp)],
                       what=f"writing the AIGC tag into {path.name}")
        elif kind == "wav":
            tmp.write_bytes(_wav_with_chunk(path.read_bytes(), b"AIGC", label_json.encode("ascii")))
        elif kind == "png":
            tmp.write_bytes(_png_with_xmp(path.read_bytes(), xmp_packet(label_json)))
        else:
            tmp.write_bytes(_jpeg_with_xmp(path.read_bytes(), xmp_packet(label_json)))
        found = read_label(tmp)
        if found != label_json:  # always read back: a silently dropped tag must never pass
            raise RenderError(f"{path.name}: the AIGC label did not survive writing (read back: {found!r})")


def _riff_chunks(data: bytes) -> dict[bytes, bytes]:
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InputError("not a RIFF/WAVE file")
    chunks, pos = {}, 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        chunks.setdefault(cid, data[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)
    return chunks


def _wav_with_chunk(data: bytes, cid: bytes, payload: bytes) -> bytes:
    pos, body = 12, b""
    while pos + 8 <= len(data):
        this, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        end = pos + 8 + size + (size & 1)
        if this != cid:  # replace an older label rather than stacking two
            body += data[pos:end]
        pos = end
    body += cid + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def _png_chunks(data: bytes):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise InputError("not a PNG file")
    pos = 8
    while pos < len(data):
        size = struct.unpack(">I", data[pos:pos + 4])[0]
        ctype = data[pos + 4:pos + 8]
        yield ctype, data[pos + 8:pos + 8 + size], data[pos:pos + 12 + size]
        pos += 12 + size


def _png_with_xmp(data: bytes, xmp: bytes) -> bytes:
    body = XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + xmp  # keyword, NUL, no compression, no language/translation
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    out = data[:8]
    for ctype, payload, raw in _png_chunks(data):
        if ctype == b"iTXt" and payload.startswith(XMP_KEYWORD + b"\x00"):
            continue
        if ctype == b"IEND":
            out += chunk
        out += raw
    return out


def _jpeg_segments(data: bytes):
    if data[:2] != b"\xff\xd8":
        raise InputError("not a JPEG file")
    pos = 2
    while pos < len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            yield marker, None, data[pos:]
            return
        size = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        yield marker, data[pos + 4:pos + 2 + size], data[pos:pos + 2 + size]
        pos += 2 + size


def _jpeg_with_xmp(data: bytes, xmp: bytes) -> bytes:
    payload = JPEG_XMP_HEADER + xmp
    if len(payload) > 65533:
        raise RenderError("XMP packet too large for one JPEG APP1 segment")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    out, inserted = b"\xff\xd8", False
    for marker, body, raw in _jpeg_segments(data):
        if marker == 0xE1 and body is not None and body.startswith(JPEG_XMP_HEADER):
            continue
        if not inserted and marker not in (0xE0,):  # after JFIF APP0, before everything else
            out += segment
            inserted = True
        out += raw
    return out


# ---- readers -----------------------------------------------------------------------------------


def read_label(path: Path) -> str | None:
    """The TC260 JSON embedded in the file, or None."""
    kind = kind_of(path)
    data = path.read_bytes()
    if kind == "mp4":
        return read_mp4_tag(data, "AIGC")
    if kind == "wav":
        raw = _riff_chunks(data).get(b"AIGC")
        return raw.decode("ascii", "replace") if raw is not None else None
    if kind == "png":
        for ctype, payload, _ in _png_chunks(data):
            if ctype == b"iTXt" and payload.startswith(XMP_KEYWORD + b"\x00"):
                return label_from_xmp(payload[len(XMP_KEYWORD) + 5:])
        return None
    for marker, body, _ in _jpeg_segments(data):
        if marker == 0xE1 and body is not None and body.startswith(JPEG_XMP_HEADER):
            return label_from_xmp(body[len(JPEG_XMP_HEADER):])
    return None


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, btype = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield btype, pos + header, pos + size
        pos += size


def read_mp4_tag(data: bytes, key: str) -> str | None:
    """Read an mdta-keyed tag from moov/udta/meta (or moov/meta) with keys + ilst."""
    for btype, s, e in _boxes(data, 0, len(data)):
        if btype != b"moov":
            continue
        metas = [(ms, me) for t, ms, me in _boxes(data, s, e) if t == b"meta"]
        for t, us, ue in _boxes(data, s, e):
            if t == b"udta":
                metas += [(ms, me) for t2, ms, me in _boxes(data, us, ue) if t2 == b"meta"]
        for ms, me in metas:
            if data[ms + 4:ms + 8] in (b"hdlr", b"keys", b"ilst"):  # QuickTime style, no version/flags
                children = dict((t, (cs, ce)) for t, cs, ce in _boxes(data, ms, me))
            else:
                children = dict((t, (cs, ce)) for t, cs, ce in _boxes(data, ms + 4, me))
            if b"keys" not in children or b"ilst" not in children:
                continue
            ks, ke = children[b"keys"]
            count = struct.unpack(">I", data[ks + 4:ks + 8])[0]
            names, pos = [], ks + 8
            for _ in range(count):
                size = struct.unpack(">I", data[pos:pos + 4])[0]
                names.append(data[pos + 8:pos + size].decode("utf-8", "replace"))
                pos += size
            if key not in names:
                continue
            index = names.index(key) + 1
            ls, le = children[b"ilst"]
            for t, is_, ie in _boxes(data, ls, le):
                if struct.unpack(">I", t)[0] != index:
                    continue
                for t2, ds, de in _boxes(data, is_, ie):
                    if t2 == b"data":
                        return data[ds + 8:de].decode("utf-8", "replace")
    return None
