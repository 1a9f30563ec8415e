"""The library store: immutable versions, hash-checked files and records, and writers that lose nothing."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import update

from microdrama.errors import InputError
from microdrama.library import Library
from microdrama.library.store import versions
from tests.library.conftest import character


def test_a_new_file_or_new_rights_is_a_new_version_and_old_ones_stay(library, picture, tmp_path):
    first = library.add(character(), [("image", picture)])
    wider = {**first.rights.model_dump(), "territories": ["WORLD"]}
    second = library.add({"asset_id": "char:lin_xia", "rights": wider})
    other = tmp_path / "other.png"
    other.write_bytes(b"another picture")
    third = library.add({"asset_id": "char:lin_xia"}, [("image", other)])
    assert [v.version for v in library.history("char:lin_xia")] == [1, 2, 3]
    assert library.get("char:lin_xia@1") == first and first.rights.territories == ["CN"]
    assert second.look == first.look and second.files == first.files  # carried from the latest version
    assert third.rights.territories == ["WORLD"] and third.file("image").sha256 != first.file("image").sha256
    assert library.get("char:lin_xia").version == 3


def test_a_tampered_asset_file_is_found_by_its_hash(library, picture):
    version = library.add(character(), [("image", picture)])
    assert library.verify() == []
    library.path_of(version.file("image")).write_bytes(b"swapped face")
    problems = library.verify("char:lin_xia@1")
    assert len(problems) == 1 and "image file lin_xia.png was changed" in problems[0]


def test_a_record_edited_in_the_database_is_found(library):
    library.add(character())
    with library.engine.begin() as conn:
        row = conn.execute(versions.select()).first()
        conn.execute(update(versions).values(record=row.record.replace('"CN"', '"US"')))
    assert any("record was edited" in p for p in library.verify())


def test_a_retired_asset_takes_no_new_version(library):
    library.add(character())
    library.retire("char:lin_xia", "actor withdrew")
    with pytest.raises(InputError, match="retired"):
        library.add(character())


@pytest.mark.parametrize("bad", ["lin_xia", "char:Lin", "char:lin@0", "face:lin"])
def test_a_malformed_reference_names_the_format(library, bad):
    with pytest.raises(InputError, match="KIND:ID"):
        library.get(bad)


def test_concurrent_writers_lose_nothing(library_url, tmp_path):
    """Eight threads add versions of one asset and assets of their own at once: every version is there, numbered
    without a gap or a duplicate."""
    from microdrama.ledger import Ledger

    lib = Library(Ledger(library_url), tmp_path / "library")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(3):
                lib.add(character(note=f"thread {n} #{i}"))
                lib.add(character(asset_id=f"char:extra_{n}_{i}"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    shared = lib.history("char:lin_xia")
    assert [v.version for v in shared] == list(range(1, 25))
    assert sorted(v.note for v in shared) == sorted(f"thread {n} #{i}" for n in range(8) for i in range(3))
    assert len(lib.catalogue()) == 1 + 24
    lib.engine.dispose()
