"""Lesson 9 — AIGC labels and filing.

Why: since 2025-09-01 AI-generated video in China must carry a visible label (GB 45438-2025
§5.4: text at least 5% of the shorter side, at least 2 s from the start) and a metadata label
(Appendix E), and dramas are filed with the regulator in tiers by investment. The checker reads
everything back, so publishing can be gated on it.
"""

import shutil
from datetime import date
from decimal import Decimal

from PIL import Image

from _common import out_dir
from microdrama.filing import ReviewTiers
from microdrama.labels.apply import LabelsConfig, label_file
from microdrama.labels.check import check_file

folder = out_dir("09")
poster = folder / "poster.png"
Image.new("RGB", (540, 960), (30, 30, 60)).save(poster)
print("before:", check_file(poster).ok)
label = label_file(poster, LabelsConfig(), produce_id="lesson9-poster")
print("TC260 JSON:", label.to_json())
print("after:", check_file(poster).ok)
stripped = folder / "stripped.png"
Image.open(poster).save(stripped)  # re-saving drops the metadata
print("stripped copy passes?", check_file(stripped).ok)
for budget in ("250000", "500000", "900000"):
    tier, scheme, _ = ReviewTiers.load().tier_for(Decimal(budget), date(2026, 11, 26))
    print(f"AI micro-drama with {budget} RMB budget -> {tier} ({scheme.id})")
shutil.rmtree(folder / "tmp", ignore_errors=True)

# Exercise: run `microdrama label check out/demo/episode.mp4` and read each clause. Then configure a
# test certificate (see tests/labels/conftest.py) and add C2PA credentials with labels.signing.
