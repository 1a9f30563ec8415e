import pytest

from microdrama.media import probe
from microdrama.skill import SkillContext
from microdrama.skills.compose_moviepy import MoviepyComposer
from microdrama.stages import ComposeInput
from tests.skills.conftest import CUT, FPS, H, W
from tests.skills.contract import Case, SkillContract
from tests.skills.test_compose_ffmpeg import parts  # noqa: F401  (fixture)

pytest.importorskip("moviepy")


def test_moviepy_backend_honours_the_same_contract(parts, tmp_path):  # noqa: F811
    board, clips, sound, subs = parts
    result = MoviepyComposer()(ComposeInput(storyboard=board, clips=clips, sound=sound, subtitles_ass=subs.ass,
                                            encode=CUT), SkillContext(tmp_path / "cut"))
    info = probe(result.output.video)
    assert (info.width, info.height, info.fps) == (W, H, FPS)
    assert info.audio_streams == 1
    assert info.duration_s == pytest.approx(board.duration_s, abs=0.1)
    assert MoviepyComposer.stage == "compose"


class TestMoviepyContract(SkillContract):
    @pytest.fixture
    def case(self, tiny_episode):
        e = tiny_episode
        return Case(MoviepyComposer(), ComposeInput(storyboard=e.board, clips=e.clips, sound=e.sound,
                                                    subtitles_ass=e.subs.ass, encode=CUT).model_dump(mode="json"))
