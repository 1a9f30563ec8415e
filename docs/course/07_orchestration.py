"""Lesson 7 — Orchestration with Prefect: a flow of skill calls, cached by content.

Why: a series is hundreds of steps. The flow makes each skill call a task; every result is stored
under the hash of its skill and input, so a second run reuses everything and an edit redoes only
what it touches. Prefect adds retries, concurrency and a UI when you run a Prefect server.
"""

import yaml

from _common import out_dir, short_screenplay
from microdrama.config import ProjectConfig
from microdrama.pipelines.episode import episode_flow

folder = out_dir("07")
source = folder / "screenplay.yaml"
source.write_text(yaml.safe_dump(short_screenplay(folder).model_dump(mode="json"), allow_unicode=True),
                  encoding="utf-8")
config = ProjectConfig.model_validate({"render": {"width": 270, "height": 480, "fps": 15},
                                       "subtitles": {"font_size": 16}})
first = episode_flow(source=source, config=config, out_dir=folder / "out", run_name="ep")
again = episode_flow(source=source, config=config, out_dir=folder / "out", run_name="ep")
print(f"first run: {first.steps_run} steps run; second run: {again.steps_run} run, {again.steps_cached} reused")

# Exercise: edit one line in screenplay.yaml and run again. Which tasks ran? (manifest.json, "usage",
# "cached": false). Then run `microdrama series assets/demo/series.yaml --parallel 2`.
