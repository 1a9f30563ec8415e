from datetime import date
from decimal import Decimal

import pytest
from pydantic import BaseModel

from microdrama.artifact_store import ArtifactStore
from microdrama.ledger.meter import Attribution, Meter
from microdrama.ledger.rates import RateCards
from microdrama.skill import Skill, Usage
from microdrama.stages import NoOptions

WHO = Attribution(run_id="run-1", project_code="P1", flow="episode", task="render-shot", episode=1, shot_id="s01")


def gpu_usage() -> Usage:
    return Usage(skill="video", version="1", backend="diffusers", cpu_seconds=36, gpu_seconds=1800,
                 device="cuda:0 NVIDIA H100 80GB HBM3", quantities={"frames_rendered": 81})


def test_usage_is_priced_attributed_and_recorded(ledger):
    meter = Meter(ledger, RateCards.load())
    meter.record(WHO, gpu_usage(), "key1", day=date(2026, 11, 26))
    rows = {e.category: e for e in ledger.entries()}
    gpu, cpu = rows["compute_rental"], rows["internal_compute"]
    assert gpu.amount_rmb_stored == Decimal("6.4") and gpu.rate_ref.endswith("#gpu-h100-rented")
    assert cpu.amount_rmb_stored == Decimal("0.001")
    assert (gpu.run_id, gpu.project_code, gpu.shot_id, gpu.skill, gpu.device) == (
        "run-1", "P1", "s01", "video", "cuda:0 NVIDIA H100 80GB HBM3")


def test_a_retried_step_is_not_counted_twice_but_a_forced_one_is(ledger):
    meter = Meter(ledger, RateCards.load())
    meter.record(WHO, gpu_usage(), "key1")
    meter.record(WHO, gpu_usage(), "key1")
    assert len(ledger.entries()) == 2  # gpu + cpu, once
    meter.record(WHO, gpu_usage(), "key1", force=True)
    assert len(ledger.entries()) == 4


def test_failed_calls_a_provider_bills_are_each_recorded(ledger):
    meter = Meter(ledger, RateCards.load())
    usage = Usage(skill="llm", version="1", backend="openai-compatible deepseek-chat",
                  quantities={"tokens_in": 1000000})
    meter.record(WHO, usage, "k", billed_failure=True)
    meter.record(WHO, usage, "k", billed_failure=True)
    rows = ledger.entries()
    assert len(rows) == 2 and all("failed call, billed" in r.description for r in rows)


def test_a_failed_paid_task_met_again_on_a_re_run_is_booked_once(ledger):
    meter = Meter(ledger, RateCards.load())
    usage = Usage(skill="llm", version="1", backend="openai-compatible deepseek-chat",
                  quantities={"tokens_in": 1000000})
    meter.record(WHO, usage, "k", billed_failure=True, attempt="task-123")
    meter.record(WHO, usage, "k", billed_failure=True, attempt="task-123")  # the re-run polls the same failed task
    meter.record(WHO, usage, "k", billed_failure=True, attempt="task-456")  # a new paid task, a new cost
    assert len(ledger.entries()) == 2


class In(BaseModel):
    n: int


class Out(BaseModel):
    n: int


class Counting(Skill[In, Out, NoOptions]):
    name, stage, version, backend, description = "count", "test", "1", "python", "test"
    Input, Output = In, Out
    runs = 0

    def run(self, inputs, options, ctx):
        Counting.runs += 1
        return Out(n=inputs.n), {}


def test_a_crash_between_metering_and_commit_records_once(ledger, tmp_path):
    """The step re-runs after the crash; its ledger entry is still written exactly once."""
    meter = Meter(ledger, RateCards.load())
    store = ArtifactStore(tmp_path / "store")
    usage_with_cpu = lambda key, u: meter.record(WHO, u.model_copy(update={"cpu_seconds": 3600}), key)  # noqa: E731

    def crash(key, usage):
        usage_with_cpu(key, usage)
        raise KeyboardInterrupt("killed before the result was committed")

    Counting.runs = 0
    with pytest.raises(KeyboardInterrupt):
        store.run(Counting(), In(n=1), before_commit=crash)
    result = store.run(Counting(), In(n=1), before_commit=usage_with_cpu)
    assert Counting.runs == 2 and not result.cached
    assert len(ledger.entries()) == 1
    assert store.run(Counting(), In(n=1), before_commit=usage_with_cpu).cached
    assert len(ledger.entries()) == 1
