from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from microdrama.config import ProjectConfig
from microdrama.errors import InputError
from microdrama.filing import ReviewTiers, plan_pack, write_pack


@pytest.mark.parametrize("budget, on, tier", [
    ("800000", date(2026, 7, 1), "重点"),       # AI scheme in force: >= 800,000
    ("799999.99", date(2026, 7, 1), "普通"),
    ("300000", date(2026, 7, 1), "普通"),
    ("299999.99", date(2026, 7, 1), "其他"),
    ("800000", date(2026, 6, 30), "其他"),      # the day before: general scheme
    ("1000000", date(2026, 6, 30), "普通"),
    ("3000000", date(2026, 6, 30), "重点"),
])
def test_review_tier_boundaries(budget, on, tier):
    assert ReviewTiers.load().tier_for(Decimal(budget), on, ai=True)[0] == tier


def test_special_subject_is_always_top_tier():
    name, _, reason = ReviewTiers.load().tier_for(Decimal(0), date(2026, 11, 1), special=True)
    assert name == "重点" and "special subject" in reason


def test_every_scheme_cites_its_source():
    assert all(s.source for s in ReviewTiers.load().schemes)


def test_plan_pack_from_a_screenplay(screenplay, tmp_path):
    cfg = ProjectConfig.model_validate({"filing": {"themes": "自强不息", "episodes_planned": 80,
                                                   "minutes_per_episode": 1.5, "budget_rmb": "450000"}})
    pack = plan_pack(screenplay, cfg, date(2026, 11, 26))
    fields = dict(pack.rows)
    assert fields["审查层级 review tier"] == "普通" and fields["总时长 total minutes"] == "120"
    assert "人工智能" in fields["AI 生成声明 AI declaration"]
    paths = write_pack(pack, tmp_path, "plan")
    sheet = openpyxl.load_workbook(paths["xlsx"])["Filing"]
    assert ("思想内涵 themes", "自强不息") in [tuple(r[:2]) for r in sheet.iter_rows(values_only=True)]
    assert "规划备案" in paths["html"].read_text(encoding="utf-8")


def test_budget_estimated_from_cost_per_minute(screenplay):
    cfg = ProjectConfig.model_validate({"filing": {"episodes_planned": 60, "minutes_per_episode": 2}})
    fields = dict(plan_pack(screenplay, cfg, date(2026, 11, 26), cost_per_minute=Decimal("700")).rows)
    assert fields["预算 budget (RMB)"] == "84,000.00" and "ledger estimate" in fields["预算依据 budget basis"]


def test_plan_without_any_budget_says_what_to_do(screenplay):
    with pytest.raises(InputError, match="set filing.budget_rmb"):
        plan_pack(screenplay, ProjectConfig(), date(2026, 11, 26))
