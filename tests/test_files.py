"""One idiom for writing files: nothing half-written under a real name, published files owned by the run."""

import pytest

from microdrama.files import atomic_path, atomic_write_text, publish, replace_folder


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "episode.srt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["episode.srt"]


def test_the_temporary_keeps_the_suffix_tools_pick_formats_by(tmp_path):
    with atomic_path(tmp_path / "cut.mp4") as tmp:
        assert tmp.suffix == ".mp4" and tmp.parent == tmp_path and tmp.name.startswith(".")
        tmp.write_bytes(b"x")
    assert (tmp_path / "cut.mp4").read_bytes() == b"x"


def test_editing_a_published_file_never_changes_the_stored_one(tmp_path):
    stored = tmp_path / "store" / "episode.srt"
    stored.parent.mkdir()
    stored.write_text("1\n00:00:00,000 --> 00:00:01,000\n把她赶出去！\n", encoding="utf-8")
    published = publish(stored, tmp_path / "run" / "episode.srt")
    with open(published, "a", encoding="utf-8") as f:
        f.write("\n2\n00:00:01,000 --> 00:00:02,000\nextra\n")
    assert "extra" not in stored.read_text(encoding="utf-8")


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x.invalid","pay")', "+1+1", "-2+3", "@SUM(A1)"])
def test_text_that_looks_like_a_formula_stays_text_in_a_workbook(tmp_path, text):
    from openpyxl import Workbook, load_workbook

    from microdrama.files import save_workbook

    wb = Workbook()
    wb.active.append(["description", text])
    save_workbook(wb, tmp_path / "claim.xlsx")
    cell = load_workbook(tmp_path / "claim.xlsx").active["B1"]
    assert cell.data_type == "s" and cell.value == text


def test_a_replaced_folder_holds_only_the_new_files_and_nothing_is_left_aside(tmp_path):
    dest, new = tmp_path / "stems", tmp_path / ".stems.new"
    dest.mkdir()
    (dest / "music.wav").write_text("an earlier bed")  # a stem this run no longer makes
    (dest / "mix.wav").write_text("old")
    new.mkdir()
    (new / "mix.wav").write_text("new")
    assert replace_folder(new, dest) == dest
    assert {p.name: p.read_text() for p in dest.iterdir()} == {"mix.wav": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stems"]  # no staging, no old copy


def test_a_folder_can_be_put_where_there_was_none(tmp_path):
    new = tmp_path / ".covers.new"
    new.mkdir()
    (new / "cover-9x16.jpg").write_bytes(b"jpeg")
    replace_folder(new, tmp_path / "covers")
    assert (tmp_path / "covers" / "cover-9x16.jpg").read_bytes() == b"jpeg" and not new.exists()
