"""Labelling many published files at once: every file labelled and read back, reports in the files' order."""

import threading

from microdrama.labels.apply import LabelsConfig, label_and_check
from microdrama.labels.carriers import read_label
from microdrama.labels.tc260 import AigcLabel


def test_every_file_is_labelled_with_its_own_id_and_checked_in_order(media):
    paths = [media["mp4"], media["wav"], media["png"], media["jpeg"]]
    reports = label_and_check(paths, LabelsConfig(), lambda p: f"run1-{p.suffix[1:]}", title="t", visible=False)
    assert [r.path for r in reports] == [str(p) for p in paths] and all(r.ok for r in reports)
    assert [AigcLabel.from_json(read_label(p)).produce_id for p in paths] == ["run1-mp4", "run1-wav", "run1-png",
                                                                             "run1-jpg"]


def test_unsigned_files_are_labelled_in_parallel(media, monkeypatch):
    import microdrama.labels.apply as apply

    threads, real = set(), apply.label_file
    barrier = threading.Barrier(2, timeout=10)  # two files labelled at the same time, or this times out

    def label_file(path, *args, **kwargs):
        threads.add(threading.get_ident())
        if path.suffix in (".mp4", ".wav"):
            barrier.wait()
        return real(path, *args, **kwargs)

    monkeypatch.setattr(apply, "label_file", label_file)
    reports = label_and_check([media["mp4"], media["wav"]], LabelsConfig(), lambda p: p.stem, visible=False)
    assert all(r.ok for r in reports) and len(threads) == 2
