import struct

import pytest

from microdrama.errors import RenderError
from microdrama.labels.carriers import content_hash, read_label, write_label
from microdrama.labels.check import check_file
from microdrama.labels.tc260 import AigcLabel
from microdrama.media import run_ffmpeg
from tests.labels.conftest import exif_tags

CODE = "0011" + "91310000MA1FL8XQ3C" + "1" + "MD01"


def labelled(path):
    label = AigcLabel(content_producer=CODE, produce_id=f"t-{path.stem}", reserved_code1=f"sha256-{content_hash(path)}")
    write_label(path, label.to_json())
    return label.to_json()


@pytest.mark.parametrize("kind", ["mp4", "wav", "png", "jpeg"])
def test_label_round_trips_without_touching_the_content(media, kind):
    path = media[kind]
    before = content_hash(path)
    text = labelled(path)
    assert read_label(path) == text
    assert content_hash(path) == before
    report = check_file(path, visible=False)  # a 1-s test clip carries no on-screen mark
    assert [c.ok for c in report.clauses] == [True, True, True, True]


@pytest.mark.parametrize("kind", ["mp4", "png", "jpeg"])
def test_an_independent_reader_shows_the_tc260_json(media, kind):
    text = labelled(media[kind])
    tags = exif_tags(media[kind])
    assert text in tags
    assert ("[Keys]" if kind == "mp4" else "[XMP-TC260]") in tags


def test_wav_carries_an_aigc_riff_chunk(media):
    text = labelled(media["wav"])
    data = media["wav"].read_bytes()
    pos, chunks = 12, {}
    while pos < len(data):  # walk the RIFF chunks by hand
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        chunks[cid] = data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    assert chunks[b"AIGC"].decode() == text and b"data" in chunks
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8


def test_ffmpeg_drops_the_tag_without_the_movflag_so_we_always_read_back(media, tmp_path):
    out = tmp_path / "plain.mp4"
    run_ffmpeg(["-i", str(media["mp4"]), "-c", "copy", "-metadata", 'AIGC={"AIGC":{}}', str(out)])
    assert read_label(out) is None  # exit code 0, tag gone: the silent failure the read-back guards against


def test_stripped_metadata_fails_the_check(media, tmp_path):
    labelled(media["mp4"])
    stripped = tmp_path / "stripped.mp4"
    run_ffmpeg(["-i", str(media["mp4"]), "-map", "0", "-c", "copy", "-map_metadata", "-1", str(stripped)])
    report = check_file(stripped, visible=False)
    assert not report.ok
    assert any(not c.ok and "implicit label present" in c.clause for c in report.clauses)


def test_altered_content_fails_the_integrity_hash(media, tmp_path):
    from PIL import Image

    labelled(media["png"])
    im = Image.open(media["png"])
    im.putpixel((0, 0), (0, 0, 0))
    altered = tmp_path / "altered.png"
    im.save(altered, pnginfo=None)
    write_label(altered, read_label(media["png"]))  # the old label on new pixels
    clause = next(c for c in check_file(altered).clauses if c.clause.startswith("ReservedCode1"))
    assert not clause.ok and "content changed" in clause.detail


def test_a_label_that_does_not_survive_writing_is_an_error(media, monkeypatch):
    import microdrama.labels.carriers as carriers

    monkeypatch.setattr(carriers, "read_label", lambda path: None)
    with pytest.raises(RenderError, match="did not survive writing"):
        carriers.write_label(media["png"], '{"AIGC":{}}')


def test_an_mp4s_hash_is_its_packets_track_by_track_read_from_the_sample_tables(media):
    """The fast reader hashes exactly the bytes a demuxer hands out, grouped per track in decode order."""
    import hashlib

    import av

    per_track: dict[int, list[bytes]] = {}
    with av.open(str(media["mp4"])) as container:
        for packet in container.demux():
            if packet.size:
                per_track.setdefault(packet.stream.index, []).append(bytes(packet))
    assert len(per_track) == 2
    expected = hashlib.sha256(b"".join(b"".join(per_track[i]) for i in sorted(per_track))).hexdigest()
    assert content_hash(media["mp4"]) == expected


def test_a_fragmented_mp4_is_hashed_by_its_packets(media, tmp_path):
    from microdrama.labels.carriers import legacy_content_hash

    fragmented = tmp_path / "frag.mp4"
    run_ffmpeg(["-i", str(media["mp4"]), "-c", "copy", "-movflags", "frag_keyframe+empty_moov", str(fragmented)])
    assert content_hash(fragmented) == legacy_content_hash(fragmented)
    labelled(fragmented)
    assert check_file(fragmented, visible=False).ok


def _with_metadata(data: bytes, kind: str) -> bytes:
    """The same coded picture with a text comment added the way other tools add one (byte for byte)."""
    import zlib

    if kind == "png":  # a tEXt chunk before IEND
        body = b"Comment\x00edited elsewhere"
        chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
        return data[:-12] + chunk + data[-12:]
    comment = b"edited elsewhere"  # a COM segment and an APP2 right after SOI
    return (data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
            + b"\xff\xe2" + struct.pack(">H", 6) + b"ICC_" + data[2:])


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_an_images_hash_ignores_metadata_but_not_its_coded_picture(media, kind, tmp_path):
    from PIL import Image

    path, other = media[kind], tmp_path / f"other{media[kind].suffix}"
    data = path.read_bytes()
    other.write_bytes(_with_metadata(data, kind))
    with Image.open(other) as im:
        im.load()  # still a valid image
    assert content_hash(other) == content_hash(path)
    changed = bytearray(data)
    changed[-40] ^= 0x01  # one bit of the coded picture (PNG: the last IDAT, its CRC made right again; JPEG: the scan)
    if kind == "png":
        import zlib

        start = bytes(changed).rfind(b"IDAT")
        size = struct.unpack(">I", changed[start - 4:start])[0]
        changed[start + 4 + size:start + 8 + size] = struct.pack(">I", zlib.crc32(bytes(changed[start:start + 4 + size])))
    other.write_bytes(bytes(changed))
    assert content_hash(other) != content_hash(path)


@pytest.mark.parametrize("kind", ["mp4", "png", "jpeg"])
def test_labels_written_with_the_earlier_decoded_hash_still_check(media, kind):
    from microdrama.labels.carriers import legacy_content_hash

    path = media[kind]
    old = AigcLabel(content_producer=CODE, produce_id="t-old", reserved_code1=f"sha256-{legacy_content_hash(path)}")
    assert legacy_content_hash(path) != content_hash(path)
    write_label(path, old.to_json())
    clause = next(c for c in check_file(path, visible=False).clauses if c.clause.startswith("ReservedCode1"))
    assert clause.ok and "before 2026-11" in clause.detail


@pytest.mark.parametrize("kind", ["mp4", "png", "jpeg"])
def test_a_damaged_file_is_refused_by_name_not_hashed(media, kind, tmp_path):
    from microdrama.errors import InputError

    data = media[kind].read_bytes()
    damaged = tmp_path / f"damaged{media[kind].suffix}"
    if kind == "mp4":  # cut off inside its media data: the sample tables point past the end
        damaged.write_bytes(data[: len(data) // 2] if data.find(b"moov") < data.find(b"mdat") else data[:40] + data[-2000:])
    elif kind == "png":  # one byte of the picture flipped: its chunk's CRC no longer matches
        changed = bytearray(data)
        changed[-30] ^= 0xFF
        damaged.write_bytes(bytes(changed))
    else:  # the scans cut off before the end-of-image marker
        damaged.write_bytes(data[:-200])
    with pytest.raises(InputError, match=rf"damaged{media[kind].suffix} is not a {kind.upper()} file microdrama can read"):
        content_hash(damaged)
