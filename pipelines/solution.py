"""Demo industry solutions: a folder with episodes and a config, rendered end to end.

`run_solution` renders every episode through the series flow, then writes what a pilot base shows
a client: the cost report (a ledger claim pack for the solution's project), the label checks (in
each manifest), and the planning and online filing packs.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel

from microdrama.assets import ASSETS_DIR
from microdrama.config import ProjectConfig
from microdrama.domain import Screenplay, load_model
from microdrama.errors import InputError
from microdrama.pipelines.series import SeriesSpec, SeriesSummary, series_flow
from microdrama.run import configure

SOLUTIONS_DIR = ASSETS_DIR / "solutions"
QUICK_RENDER = {"width": 270, "height": 480, "fps": 15}


class SolutionResult(BaseModel):
    name: str
    series: SeriesSummary
    claim_html: str | None = None
    filing: list[str] = []


def solution_names() -> list[str]:
    return sorted(p.name for p in SOLUTIONS_DIR.iterdir() if (p / "series.yaml").is_file())


def run_solution(name: str, out_dir: Path, quick: bool = False, parallel: int = 2) -> SolutionResult:
    folder = SOLUTIONS_DIR / name
    if not (folder / "series.yaml").is_file():
        raise InputError(f"no solution named '{name}'; choose one of: {', '.join(solution_names())}")
    config, _ = configure(ProjectConfig.load(folder / "config.yaml"))  # an LLM server in the environment too
    spec_path = folder / "series.yaml"
    if quick:  # CI and a first look: the first episode, small frames
        spec = load_model(SeriesSpec, spec_path)
        first = spec.episodes[0] if spec.episodes else None
        spec_path = out_dir / f"{name}-quick-series.yaml"
        out_dir.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(f"title: {spec.title}\nepisodes: ['{(folder / first).resolve()}']\n" if first else
                             f"title: {spec.title}\nbrief: '{(folder / spec.brief).resolve()}'\ncount: 1\n",
                             encoding="utf-8")
        config = config.model_copy(update={
            "render": config.render.model_copy(update=QUICK_RENDER),
            "subtitles": config.subtitles.model_copy(update={"font_size": max(14, config.subtitles.font_size // 4),
                                                             "secondary_font_size": 12})})
    summary = series_flow(spec_path=spec_path, config=config, out_dir=out_dir, parallel=parallel)
    result = SolutionResult(name=name, series=summary)
    done = [Path(e.video).parent for e in summary.episodes if e.ok]
    if not done:
        return result
    report_dir = out_dir / f"{name}-report"
    if config.ledger.enabled:
        from microdrama.ledger import Ledger, ledger_url
        from microdrama.ledger.claim import build_claim, write_claim_pack
        from microdrama.ledger.policy import PolicyRules

        ledger = Ledger(ledger_url(config.ledger.url, out_dir))
        today = date.today()
        claim = build_claim(ledger, PolicyRules.load(), config.project_code, today.replace(day=1), today,
                            city_image=config.filing.city_image)
        result.claim_html = str(write_claim_pack(claim, report_dir / "cost")["html"])
    from microdrama.filing import FiledEpisode, online_pack, plan_pack, write_pack

    first_sp = load_model(Screenplay, done[0] / "screenplay.json")
    result.filing = [str(write_pack(plan_pack(first_sp, config, date.today()), report_dir / "filing", "plan")["html"]),
                     str(write_pack(online_pack([FiledEpisode.from_run_dir(d) for d in done], config), report_dir / "filing", "online")["html"])]
    return result
