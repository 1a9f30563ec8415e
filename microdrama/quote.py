"""What an episode will cost in third-party model APIs, before anything is paid for.

The quote walks the same plan a run follows — the screenplay (written now when the writer is free,
otherwise estimated), the cast's voices, the storyboard timed from estimated speech, the character
references, every shot × the takes planned — and asks each configured skill what its call would
consume (`Skill.quote`), priced with the same dated rate card the ledger uses. Local CPU and GPU
work is measured after the run, not quoted. `Budget` holds a run to a cap: a call whose quote would
cross it is refused before it is made.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, Field

from microdrama.config import ProjectConfig
from microdrama.domain import Brief, Screenplay
from microdrama.errors import MicrodramaError
from microdrama.ledger.rates import RateCards
from microdrama.registry import default_registry
from microdrama.skill import Skill, SkillContext, Usage
from microdrama.stages import (
    DubbingInput,
    KeyframeInput,
    ScreenplayInput,
    StoryboardInput,
    VisualsInput,
)

# An LLM screenplay costs tokens: draft, critique, one length round and the director, about this much each.
LLM_TOKENS_IN_PER_CALL = 2500
LLM_TOKENS_OUT_PER_SECOND = 40


class QuoteLine(BaseModel):
    stage: str
    skill: str
    item: str = Field(description="the shot, line or character it is for")
    quantities: dict[str, float]
    amount: str = Field(description="in the rate card's currency")
    rate_refs: list[str] = Field(default_factory=list)
    vendor: str | None = None


class Quote(BaseModel):
    currency: str
    total: str
    by_stage: dict[str, str]
    takes: int
    lines: list[QuoteLine]
    note: str = ("third-party model-API spend only; local CPU/GPU time is measured after the run. Written "
                 "screenplay lengths are estimates until the voices are measured.")


class BudgetExceeded(MicrodramaError):
    """A paid call would take the run past its cap; nothing was sent."""


def price(rates: RateCards, skill: Skill, options, quantities: dict[str, float]) -> tuple[Decimal, list[str]]:
    usage = Usage(skill=skill.name, version=skill.version, backend=skill.backend_for(options), quantities=quantities,
                  vendor=skill.vendor_for(options))
    lines = rates.price_usage(usage, datetime.now(timezone.utc).date())
    return sum((line.amount for line in lines), Decimal(0)), [line.rate_ref for line in lines]


def quote_episode(material: Brief | Screenplay, config: ProjectConfig, takes: int = 1) -> Quote:
    """Price an episode's paid calls from its plan; nothing is sent anywhere."""
    from microdrama.run import wants_references
    from microdrama.voices import cast_voices

    registry = default_registry()
    rates = RateCards.load(config.ledger.rate_card)
    lines: list[QuoteLine] = []

    def add(stage: str, skill_name: str, item: str, inputs) -> None:
        skill = registry.create(skill_name)
        options = skill.parse_options(skill.options_from_config(config))
        skill.check_inputs(inputs, options)  # what a skill will refuse is refused now, before anything is paid for
        quantities = skill.quote(inputs, options)
        if not quantities:
            return
        amount, refs = price(rates, skill, options, quantities)
        lines.append(QuoteLine(stage=stage, skill=skill.name, item=item, quantities=quantities, amount=str(amount),
                               rate_refs=refs, vendor=skill.vendor_for(options)))

    with tempfile.TemporaryDirectory(prefix="microdrama-quote-") as tmp:
        # 1. The screenplay: written now when the writer is free; an LLM writer's tokens are estimated, and
        #    the offline writer stands in for the shape of the episode it would write.
        if isinstance(material, Brief):
            writer = registry.get(config.stages.screenplay)
            if not writer.refits_after_dubbing:
                calls = 4
                quantities = {"tokens_in": float(LLM_TOKENS_IN_PER_CALL * calls),
                              "tokens_out": float(LLM_TOKENS_OUT_PER_SECOND * material.target_seconds * calls)}
                skill = registry.create(writer.name)
                options = skill.parse_options(skill.options_from_config(config))
                amount, refs = price(rates, skill, options, quantities)
                lines.append(QuoteLine(stage="screenplay", skill=writer.name, item="episode", quantities=quantities,
                                       amount=str(amount), rate_refs=refs))
            offline = registry.create("screenplay-rules")
            screenplay = offline(ScreenplayInput(brief=material), SkillContext(Path(tmp) / "screenplay")).output
        else:
            screenplay = material
        screenplay, _ = cast_voices(screenplay, narrator=config.narrator_voice)

        # 2. Voices: every line with its speaker's engine.
        for ln in screenplay.spoken_lines():
            voice = screenplay.voice_of(ln.speaker, config.narrator_voice)
            add("dubbing", voice.engine or config.stages.dubbing, ln.id,
                DubbingInput(line_id=ln.id, text=ln.text, language=screenplay.series.language, voice=voice,
                             emotion=ln.emotion))

        # 3. The storyboard from estimated speech, then references and every shot × takes.
        board = registry.create(config.stages.storyboard)(
            StoryboardInput(screenplay=screenplay, fps=config.render.fps, contact_sheet=False),
            SkillContext(Path(tmp) / "board")).output.storyboard
        if wants_references(config):
            for c in screenplay.series.characters:
                add("keyframe", config.stages.keyframe, c.id,
                    KeyframeInput(key=c.id, prompt=f"Character sheet: {c.name}, {c.look}"))
        for ts in board.shots:
            for take in range(1, takes + 1):
                add("visuals", config.stages.visuals, ts.shot.id if takes == 1 else f"{ts.shot.id} take {take}",
                    VisualsInput(shot=ts.model_copy(update={"start_s": 0.0, "cues": []}),
                                 characters=[screenplay.series.character(c) for c in ts.shot.characters],
                                 language=screenplay.series.language, encode=config.render.clip_encode()))
    by_stage: dict[str, Decimal] = {}
    for line in lines:
        by_stage[line.stage] = by_stage.get(line.stage, Decimal(0)) + Decimal(line.amount)
    total = sum(by_stage.values(), Decimal(0))
    return Quote(currency=rates.currency, total=str(total), by_stage={k: str(v) for k, v in by_stage.items()},
                 takes=takes, lines=lines)


@dataclass
class Budget:
    """A spending cap shared by every call of a run (or of a series): a call is refused, before it is made,
    when what was spent plus what is reserved plus its own quote would pass the cap."""

    cap: Decimal
    spent: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def reserve(self, amount: Decimal, what: str) -> None:
        with self.lock:
            if self.spent + self.reserved + amount > self.cap:
                raise BudgetExceeded(
                    f"budget: stopping before {what} — it would cost about {amount:.4f}, with {self.spent:.4f} spent "
                    f"and {self.reserved:.4f} in flight of the {self.cap} cap. Raise --budget, or re-run later: "
                    "every finished step is kept and will not be paid for again")
            self.reserved += amount

    def settle(self, reserved: Decimal, actual: Decimal) -> None:
        with self.lock:
            self.reserved -= reserved
            self.spent += actual


_SHARED: dict[str, Budget] = {}
_SHARED_LOCK = threading.Lock()


def shared_budget(key: str, cap: Decimal) -> Budget:
    """One Budget per key in this process: the episodes of a series spend from the same cap."""
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Budget(cap=cap)
        return _SHARED[key]


def spend_report(quote: Quote | None, actual_by_stage: dict[str, Decimal], calls: dict[str, int],
                 reused: dict[str, int]) -> dict:
    """Quoted against actual third-party spend per stage, with why they differ."""
    stages = sorted(set(actual_by_stage) | set(quote.by_stage if quote else {}))
    report = {}
    for stage in stages:
        quoted = Decimal(quote.by_stage.get(stage, "0")) if quote else None
        actual = actual_by_stage.get(stage, Decimal(0))
        why = []
        if reused.get(stage):
            why.append(f"{reused[stage]} step(s) reused from the store cost nothing this run")
        if quoted is not None and actual > quoted:
            why.append("retries, continuation takes or billed failures cost more than planned")
        if quoted is not None and actual < quoted and not reused.get(stage):
            why.append("shorter clips or lines than the estimate")
        report[stage] = {"quoted": str(quoted) if quoted is not None else None, "actual": str(actual),
                         "difference": str(actual - quoted) if quoted is not None else None,
                         "calls": calls.get(stage, 0), "why": "; ".join(why) or "as quoted"}
    return report
