"""What every cloud skill shares: its options (an account from the config and a model), the job client for
a step, and the provider record a step leaves for the manifest (who made the pixels, under which task)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from pydantic import Field

from microdrama.cloud import adapter_for
from microdrama.cloud.jobs import Adapter, CloudError, CloudProvider, JobClient, JobOutcome
from microdrama.domain import Strict
from microdrama.errors import BilledError, InputError
from microdrama.files import atomic_write_text
from microdrama.skill import Skill, SkillContext, Usage

if TYPE_CHECKING:
    import httpx

    from microdrama.config import ProjectConfig

PROVIDER_RECORD = "provider.json"


class CloudOptions(Strict):
    account: str | None = Field(None, description="an account named under the config's `cloud:`")
    provider: CloudProvider | None = Field(None, description="the account itself (filled in from `account`)")
    model: str = Field(min_length=1, description="the provider's model id, e.g. wan2.2-t2v-plus")
    extra: dict[str, Any] = Field(default_factory=dict, description="provider parameters passed through as they are")


class CloudSkill:
    """What every cloud skill shares, mixed in before `Skill`: its account comes from the config's `cloud:`,
    the ledger sees the provider, model and host as the backend and the provider's company as the vendor."""

    name: str

    def __init__(self, transport: "httpx.BaseTransport | None" = None) -> None:
        self.transport = transport  # tests use real loopback fakes; a transport is for in-process ones

    @classmethod
    def options_from_config(cls, config: "ProjectConfig") -> dict[str, Any]:
        return cloud_options(cls.name, config)

    def backend_for(self, options: CloudOptions) -> str:
        return backend_of(options)

    def vendor_for(self, options: CloudOptions) -> str | None:
        return vendor_of(options)


def cloud_options(skill_name: str, config: "ProjectConfig") -> dict[str, Any]:
    """The skill's options with its `account` looked up in the config's `cloud:` accounts."""
    options = dict(config.options.get(skill_name, {}))
    account = options.get("account")
    if account and "provider" not in options:
        if account not in config.cloud:
            known = ", ".join(config.cloud) or "none yet"
            raise InputError(f"options.{skill_name}.account: no account '{account}' under `cloud:` (known: {known}); "
                             "add it, e.g. cloud: {dashscope: {adapter: dashscope, base_url: "
                             "https://dashscope.aliyuncs.com/api/v1, api_key_env: DASHSCOPE_API_KEY}}")
        options["provider"] = config.cloud[account]
    return options


def account_of(skill_name: str, options: CloudOptions) -> CloudProvider:
    if options.provider is None:
        raise InputError(f"{skill_name} needs a model-API account: set options.{skill_name}.account to a name under "
                         "`cloud:` in the config")
    return options.provider


def backend_of(options: CloudOptions) -> str:
    """What the ledger's rate card matches: adapter, model and host — never the key."""
    p = options.provider
    return f"{p.adapter} {options.model}@{p.host}" if p else "model API (no account)"


def job_client(options: CloudOptions, ctx: SkillContext, transport: "httpx.BaseTransport | None") -> JobClient:
    # Through the artifact store (every pipeline run) the journal outlives the step, so a crash resumes the
    # paid job; a bare call (`skills run`, a test) keeps it beside its output instead.
    journal = ctx.journal if ctx.journal is not None else ctx.work_dir / "journal"
    account = account_of("cloud skill", options)
    return JobClient(account, adapter_for(account), journal=journal, transport=transport, log=ctx.info)


def write_provider_record(ctx: SkillContext, adapter: Adapter, options: CloudOptions,
                          outcomes: list[JobOutcome]) -> Path:
    """Who made this step's media, under which paid tasks, and the provider's own labels (never stripped)."""
    labels: dict[str, str] = {}
    for outcome in outcomes:
        labels.update(outcome.upstream_labels)
    record = {"adapter": adapter.name, "counterparty": adapter.counterparty, "docs": adapter.docs,
              "checked_on": adapter.checked_on, "model": options.model, "host": options.provider.host,
              "tasks": [o.task_id for o in outcomes], "resumed": any(o.resumed for o in outcomes),
              "upstream_labels": labels,
              "originals": [upstream_marks(f) for o in outcomes for f in o.files],
              # every HTTP attempt of this step's jobs, crashed runs' included (the journal's attempt logs)
              "attempts": [{"job": o.job, **a} for o in outcomes for a in o.attempts]}
    path = ctx.path(PROVIDER_RECORD)
    atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=1))
    return path


def add_quantities(outcomes: list[JobOutcome]) -> dict[str, float]:
    total: dict[str, float] = {}
    for outcome in outcomes:
        for name, value in outcome.quantities.items():
            total[name] = total.get(name, 0.0) + float(value)
    return total


def vendor_of(options: CloudOptions) -> str | None:
    return adapter_for(options.provider).counterparty if options.provider else None


@contextmanager
def attempts_kept(skill: Skill, options: CloudOptions) -> Iterator[None]:
    """A job that gave no result still leaves its attempts (and anything the provider billed) in the
    ledger: the failure goes up as a BilledError carrying them."""
    try:
        yield
    except CloudError as exc:
        usage = Usage(skill=skill.name, version=skill.version, backend=skill.backend_for(options),
                      quantities=exc.quantities, vendor=skill.vendor_for(options))
        raise BilledError(str(exc), usage, attempt=exc.task_id) from None


def video_tier(width: int, height: int) -> str:
    """The price tier of a clip size: providers bill video seconds by resolution."""
    side = max(width, height)
    return "480p" if side <= 960 else "720p" if side <= 1504 else "1080p"


def upstream_marks(path: Path) -> dict[str, Any]:
    """The provider's own AIGC label (TC260 metadata) and C2PA credentials in a file it returned, read and
    recorded; the file itself is kept unchanged beside the step's output (never stripped)."""
    from microdrama.files import sha256_file

    found: dict[str, Any] = {"file": path.name, "sha256": sha256_file(path), "tc260": None, "c2pa": None}
    if path.suffix in (".mp4", ".png", ".jpg", ".wav"):
        try:
            from microdrama.labels.carriers import read_label

            found["tc260"] = read_label(path)
        except Exception as exc:  # an unreadable container: say so, do not fail the paid step
            found["tc260"] = f"unreadable: {exc}"[:200]
        try:
            from microdrama.labels.credentials import read_credentials

            state, manifest = read_credentials(path, None)
            found["c2pa"] = {"state": state, "claim_generator": (manifest or {}).get("claim_generator")} \
                if state else None
        except Exception:
            found["c2pa"] = None
    return found
