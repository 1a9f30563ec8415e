"""Reference images from an image API: a PNG of the asked size, paid once, the provider recorded."""

import json

import pytest
from PIL import Image

from microdrama.skill import SkillContext
from microdrama.skills.keyframe_cloud import CloudKeyframe
from tests.skills.contract import Case, SkillContract


def test_a_character_sheet_comes_back_as_png(dashscope, dashscope_account, tmp_path):
    skill = CloudKeyframe()
    result = skill(skill.parse_input({"key": "lin", "prompt": "character sheet, Lin Xia", "width": 720, "height": 1280}),
                   SkillContext(tmp_path), skill.parse_options({"provider": dashscope_account.model_dump(),
                                                                "model": "wan2.2-t2i-flash"}))
    assert Image.open(result.output.image).size == (720, 1280)
    assert result.usage.quantities["api_images"] == 1 and dashscope.submissions == 1
    assert json.loads((tmp_path / "provider.json").read_text())["model"] == "wan2.2-t2i-flash"
    assert dashscope.tasks["task-0001"].request["parameters"]["seed"] == result.output.seed


class TestKeyframeCloudContract(SkillContract):
    @pytest.fixture
    def case(self, dashscope, dashscope_account):
        return Case(CloudKeyframe(), {"key": "lin", "prompt": "character sheet", "width": 512, "height": 896},
                    {"provider": dashscope_account.model_dump(), "model": "wan2.2-t2i-flash"})
