"""Every demo solution runs end to end in its quick mode, with cost report, labels and filing."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harness(prefect_harness):
    return None


@pytest.mark.parametrize("name", ["city-image", "brand", "overseas"])
def test_solution_quick_run(harness, tmp_path, name):
    from microdrama.pipelines.solution import run_solution

    result = run_solution(name, tmp_path, quick=True)
    episode = result.series.episodes[0]
    assert episode.ok, episode.error
    run_dir = Path(episode.video).parent
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert all(r["ok"] for r in manifest["labels"])
    assert (run_dir / "storyboard.png").exists() and (run_dir / "storyboard.html").exists()
    assert Path(result.claim_html).exists()
    plan, online = (Path(p).read_text(encoding="utf-8") for p in result.filing)
    assert "规划备案" in plan and "上线备案" in online
    if name == "city-image":
        assert "是 yes" in plan  # flagged as a city-image work
    claim = Path(result.claim_html).read_text(encoding="utf-8")  # filing.city_image reaches the claim pack
    assert ("city-image work: +50%" in claim) == (name in ("city-image", "overseas"))
    if name == "overseas":
        assert manifest["skills"]["dubbing"]["skill"] == "dubbing-piper"  # a neural English voice by default
        assert manifest["dub_qa"]["skipped"] is None and manifest["dub_qa"]["lines"]
        assert sum(q["score"] for q in manifest["dub_qa"]["lines"]) / len(manifest["dub_qa"]["lines"]) < 0.2
        srt = (run_dir / "episode.srt").read_text(encoding="utf-8")
        assert "Grandma said" in srt and "外婆说" in srt


def test_unknown_solution_lists_the_known_ones(tmp_path):
    from microdrama.errors import InputError
    from microdrama.pipelines.solution import run_solution

    with pytest.raises(InputError, match="city-image"):
        run_solution("nope", tmp_path)
