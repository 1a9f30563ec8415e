"""Media helpers: how per-shot encodes share the machine's cores."""

from microdrama import media


def test_decoders_side_by_side_share_the_cores_and_a_lone_one_gets_them_all(monkeypatch):
    monkeypatch.setattr(media, "usable_cores", lambda: 4)
    with media.shot_encode() as alone:
        assert alone == "4"
        with media.shot_encode() as second, media.shot_encode() as third:
            assert (second, third) == ("2", "1")  # each takes its share of what the running ones leave
    with media.shot_encode() as later:
        assert later == "4"  # finished encodes give their place back


def test_an_encode_that_fails_gives_its_place_back(monkeypatch):
    monkeypatch.setattr(media, "usable_cores", lambda: 2)
    try:
        with media.shot_encode():
            raise RuntimeError("ffmpeg failed")
    except RuntimeError:
        pass
    with media.shot_encode() as threads:
        assert threads == "2"


def test_x264_threads_depend_on_the_machine_alone_so_a_resumed_run_gives_the_same_cut(monkeypatch):
    monkeypatch.setattr(media, "usable_cores", lambda: 2)
    with media.shot_encode(), media.shot_encode():
        busy = media.x264_threads()
    assert busy == media.x264_threads() == "2"  # however many encodes are running
