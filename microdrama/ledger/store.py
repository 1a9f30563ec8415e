"""The ledger store: append-only, hash-chained R&D cost entries on SQLite or PostgreSQL.

Every entry's hash covers its content and the previous entry's hash, and a one-row chain head
records the last sequence number and hash. Corrections are reversing entries, never edits.
`verify()` recomputes the chain and names the first rows that were edited, inserted or deleted
behind the ledger's back (for example with plain SQL).

Appends are serialised by a write lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL `SELECT … FOR
UPDATE` on the chain head), so many processes can write at once without breaking the chain.
An idempotency key makes an append exactly-once: a retried or resumed step records nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, create_engine, event, func, insert, select, update

from microdrama.errors import InputError
from microdrama.ledger.schema import GENESIS, HASHED_FIELDS, chain_head, entries

Category = Literal[
    "compute_rental",  # rented GPUs/CPUs (租用算力)
    "internal_compute",  # the studio's own machines at an internal rate
    "model_api",  # third-party model API calls
    "corpus",  # purchased corpus / data
    "staff",  # 人员人工
    "equipment",  # equipment bought or leased for R&D
    "software",  # software and licences
    "other",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
MONEY_PLACES = Decimal("0.000001")


def redact_url(url: str) -> str:
    """A database URL fit for messages and logs: the password replaced by ***."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def money(value: Decimal | str | int | float) -> str:
    """Canonical decimal string, 6 places: exact, comparable and stable under hashing."""
    return str(Decimal(str(value)).quantize(MONEY_PLACES))


class EntryIn(BaseModel):
    """What is appended. Amounts are Decimal; the store writes them as canonical strings."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["usage", "manual", "reversal"]
    category: Category
    project_code: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    occurred_on: date
    description: str = ""
    amount: Decimal
    currency: str = Field("RMB", pattern=r"^[A-Z]{3}$")
    fx_rate: Decimal = Field(Decimal(1), gt=0, description="RMB per unit of `currency` on the entry's date")
    quantity: Decimal | None = None
    unit: str | None = None
    unit_price: Decimal | None = None
    rate_ref: str | None = None
    vendor: str | None = None
    contract_no: str | None = None
    invoice_no: str | None = None
    affiliated: bool | None = None
    declaration_ref: str | None = None
    person: str | None = None
    role: str | None = None
    hours: Decimal | None = None
    run_id: str | None = None
    flow: str | None = None
    task: str | None = None
    skill: str | None = None
    skill_version: str | None = None
    backend: str | None = None
    device: str | None = None
    episode: int | None = None
    shot_id: str | None = None
    line_id: str | None = None
    artifact_key: str | None = None
    idempotency_key: str | None = None
    reverses_seq: int | None = None
    evidence: list[dict[str, str]] = Field(default_factory=list)
    details: dict = Field(default_factory=dict)

    @property
    def amount_rmb(self) -> Decimal:
        return self.amount if self.currency == "RMB" else self.amount * self.fx_rate


class Entry(EntryIn):
    seq: int
    recorded_at: str
    prev_hash: str
    entry_hash: str
    amount_rmb_stored: Decimal  # as written at append time (amount x recorded fx_rate)


def _row_values(entry: EntryIn, seq: int, recorded_at: str, prev_hash: str) -> dict:
    if entry.currency != "RMB" and entry.fx_rate == 1:
        raise InputError(f"amount in {entry.currency} needs fx_rate (RMB per {entry.currency}) on {entry.occurred_on}")
    opt = lambda d: None if d is None else money(d)  # noqa: E731
    values = {
        "seq": seq, "recorded_at": recorded_at, "kind": entry.kind, "category": entry.category,
        "project_code": entry.project_code, "occurred_on": entry.occurred_on.isoformat(),
        "description": entry.description, "amount": money(entry.amount), "currency": entry.currency,
        "fx_rate": money(entry.fx_rate), "amount_rmb": money(entry.amount_rmb), "quantity": opt(entry.quantity),
        "unit": entry.unit, "unit_price": opt(entry.unit_price), "rate_ref": entry.rate_ref, "vendor": entry.vendor,
        "contract_no": entry.contract_no, "invoice_no": entry.invoice_no, "affiliated": entry.affiliated,
        "declaration_ref": entry.declaration_ref, "person": entry.person, "role": entry.role,
        "hours": opt(entry.hours), "run_id": entry.run_id, "flow": entry.flow, "task": entry.task,
        "skill": entry.skill, "skill_version": entry.skill_version, "backend": entry.backend, "device": entry.device,
        "episode": entry.episode, "shot_id": entry.shot_id, "line_id": entry.line_id,
        "artifact_key": entry.artifact_key, "idempotency_key": entry.idempotency_key,
        "reverses_seq": entry.reverses_seq,
        "evidence": json.dumps(entry.evidence, ensure_ascii=False, sort_keys=True),
        "details": json.dumps(entry.details, ensure_ascii=False, sort_keys=True, default=str),
        "prev_hash": prev_hash,
    }
    values["entry_hash"] = entry_hash(values)
    return values


def entry_hash(row: dict) -> str:
    """sha256 over every hashed field of the row (which includes the previous entry's hash)."""
    canonical = json.dumps({k: row[k] for k in HASHED_FIELDS}, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Checkpoint(BaseModel):
    """The chain's head at a moment, kept outside the database (an auditor's copy, the claim pack, the
    evidence store). Every entry hash covers all entries before it, so a later chain that still has this
    hash at this seq is unchanged up to here; one that does not was truncated, wiped or rewritten."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0, description="the last entry at checkpoint time (0: empty ledger)")
    entry_hash: str = Field(description="that entry's hash")
    entries: int = Field(ge=0, description="how many entries the chain held")
    taken_at: str = Field(description="when, UTC ISO 8601")

    def name(self) -> str:
        return f"checkpoint-{self.seq:08d}-{self.entry_hash[:12]}.json"


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    problems: list[tuple[int, str]] = field(default_factory=list)
    checkpoints: int = 0  # how many external checkpoints the chain was checked against

    def describe(self) -> str:
        if self.ok:
            against = f", matches {self.checkpoints} checkpoint(s)" if self.checkpoints else \
                ", no checkpoint to compare (truncation or a full rewrite cannot be seen; see `ledger checkpoint`)"
            return f"chain valid: {self.entries} entries, head {self.head_hash[:16]}…{against}"
        lines = [f"chain BROKEN ({len(self.problems)} problem(s) in {self.entries} entries):"]
        lines += [f"  - seq {seq}: {msg}" for seq, msg in self.problems]
        return "\n".join(lines)


class Ledger:
    """Open (and migrate) a ledger by URL: `sqlite:///path/ledger.sqlite` or `postgresql+pg8000://…`."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.exc import ArgumentError, DBAPIError

        self.url = url
        if url.startswith("sqlite:///"):  # a new ledger in a folder that does not exist yet
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = _engine(url)
            upgrade(self.engine)
        except (DBAPIError, ArgumentError, ImportError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise InputError(f"cannot open the ledger at {redact_url(url)}: {reason}. Is the database server "
                             "running and the URL right? (ledger.url in the config, or --ledger)") from None

    @classmethod
    def at(cls, path: str | Path) -> "Ledger":
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path.resolve()}")

    # -- writing --------------------------------------------------------------------------------

    def append(self, entry: EntryIn) -> tuple[int, bool]:
        """Append one entry; returns (seq, created). An existing idempotency key returns its seq."""
        return self.append_many([entry])[0]

    def append_many(self, items: Iterable[EntryIn]) -> list[tuple[int, bool]]:
        """Append entries in one transaction: all of them are recorded, or none."""
        items = list(items)
        out: list[tuple[int, bool]] = []
        with self.engine.begin() as conn:
            # The head row exists from the first migration on; locking it serialises writers.
            head = conn.execute(select(chain_head).where(chain_head.c.id == 1).with_for_update()).first()
            if head is None:
                raise InputError(f"the ledger at {redact_url(self.url)} has lost its chain head row (edited "
                                 "outside microdrama); nothing was recorded. Run `microdrama ledger verify`.")
            seq, prev = head.seq, head.entry_hash
            for item in items:
                if item.idempotency_key:
                    existing = conn.execute(
                        select(entries.c.seq).where(entries.c.idempotency_key == item.idempotency_key)).first()
                    if existing:
                        out.append((existing.seq, False))
                        continue
                if item.reverses_seq is not None:
                    self._check_reversal(conn, item)
                seq += 1
                values = _row_values(item, seq, datetime.now(timezone.utc).isoformat(timespec="microseconds"), prev)
                conn.execute(insert(entries).values(**values))
                prev = values["entry_hash"]
                out.append((seq, True))
            conn.execute(update(chain_head).where(chain_head.c.id == 1).values(seq=seq, entry_hash=prev))
        return out

    def _check_reversal(self, conn, item: EntryIn) -> None:
        target = conn.execute(select(entries).where(entries.c.seq == item.reverses_seq)).first()
        if target is None:
            raise InputError(f"cannot reverse seq {item.reverses_seq}: no such entry")
        if target.kind == "reversal":
            raise InputError(f"seq {item.reverses_seq} is itself a reversal; reverse the original entry instead")
        already = conn.execute(select(entries.c.seq).where(entries.c.reverses_seq == item.reverses_seq)).first()
        if already:
            raise InputError(f"seq {item.reverses_seq} was already reversed by seq {already.seq}")

    def reverse(self, seq: int, reason: str, on: date | None = None) -> int:
        """Cancel an entry with a reversing entry (negated amount, same category and project)."""
        row = self.get(seq)
        data = row.model_dump(exclude={"seq", "recorded_at", "prev_hash", "entry_hash", "amount_rmb_stored"})
        data.update(kind="reversal", amount=-row.amount, reverses_seq=seq, idempotency_key=None,
                    occurred_on=on or row.occurred_on, description=f"reversal of seq {seq}: {reason}",
                    quantity=None if row.quantity is None else -row.quantity)
        return self.append(EntryIn(**data))[0]

    # -- reading --------------------------------------------------------------------------------

    def entries(self, *, project: str | None = None, start: date | None = None, end: date | None = None,
                run_id: str | None = None) -> list[Entry]:
        q = select(entries).order_by(entries.c.seq)
        if project:
            q = q.where(entries.c.project_code == project)
        if start:
            q = q.where(entries.c.occurred_on >= start.isoformat())
        if end:
            q = q.where(entries.c.occurred_on <= end.isoformat())
        if run_id:
            q = q.where(entries.c.run_id == run_id)
        with self.engine.connect() as conn:
            return [_to_entry(r._mapping) for r in conn.execute(q)]

    def entries_for_artifacts(self, keys: set[str]) -> list[Entry]:
        out: list[Entry] = []
        ordered = sorted(keys)
        with self.engine.connect() as conn:
            for i in range(0, len(ordered), 500):  # keep IN lists small for every backend
                q = select(entries).where(entries.c.artifact_key.in_(ordered[i:i + 500])).order_by(entries.c.seq)
                out += [_to_entry(r._mapping) for r in conn.execute(q)]
        return sorted(out, key=lambda e: e.seq)

    def get(self, seq: int) -> Entry:
        with self.engine.connect() as conn:
            row = conn.execute(select(entries).where(entries.c.seq == seq)).first()
        if row is None:
            raise InputError(f"no ledger entry with seq {seq}")
        return _to_entry(row._mapping)

    def verify(self, checkpoints: Iterable[Checkpoint] = ()) -> VerifyResult:
        """Recompute the chain; with checkpoints, also prove nothing before each one was cut or rewritten."""
        problems: list[tuple[int, str]] = []
        expected_seq, prev = 1, GENESIS
        count = 0
        hash_at: dict[int, str] = {}
        wanted = {cp.seq for cp in checkpoints}
        with self.engine.connect() as conn:
            head = conn.execute(select(chain_head).where(chain_head.c.id == 1)).first()
            for r in conn.execute(select(entries).order_by(entries.c.seq)):
                row = dict(r._mapping)
                count += 1
                if row["seq"] in wanted:
                    hash_at[row["seq"]] = row["entry_hash"]
                if row["seq"] != expected_seq:
                    if row["seq"] > expected_seq:
                        problems.append((expected_seq, f"missing: rows {expected_seq}–{row['seq'] - 1} were deleted"))
                    else:
                        problems.append((row["seq"], "duplicate sequence number: a row was inserted"))
                if row["prev_hash"] != prev:
                    problems.append((row["seq"], "link broken: the row before it was edited, inserted or deleted"))
                if entry_hash(row) != row["entry_hash"]:
                    problems.append((row["seq"], "content edited: its hash no longer matches its fields"))
                prev, expected_seq = row["entry_hash"], row["seq"] + 1
        last_seq = expected_seq - 1
        if head is None:
            problems.append((last_seq, "chain head missing: the ledger_chain_head row was deleted"))
        elif head is not None and (head.seq, head.entry_hash) != (last_seq, prev):
            if head.seq > last_seq:
                problems.append((last_seq + 1, f"rows {last_seq + 1}–{head.seq} were deleted from the end"))
            else:
                problems.append((head.seq + 1, "rows were appended without going through the ledger"))
        checked = 0
        for cp in sorted(checkpoints, key=lambda c: c.seq):
            checked += 1
            if cp.seq == 0:
                continue
            found = hash_at.get(cp.seq)
            if found is None:
                problems.append((cp.seq, f"checkpoint of {cp.taken_at} names entry {cp.seq}, which is gone: "
                                         "entries were deleted from the end or the ledger was wiped"))
            elif found != cp.entry_hash:
                problems.append((cp.seq, f"checkpoint of {cp.taken_at} does not match: the chain up to entry "
                                         f"{cp.seq} was rewritten"))
        return VerifyResult(ok=not problems, entries=count, head_hash=prev, problems=problems, checkpoints=checked)

    def checkpoint_or_none(self) -> Checkpoint | None:
        try:
            return self.checkpoint()
        except InputError:
            return None

    def checkpoint(self) -> Checkpoint:
        """The current head, to be kept outside the database; refused while the chain is broken."""
        result = self.verify()
        if not result.ok:
            raise InputError("the ledger chain is broken, so it cannot be checkpointed:\n" + result.describe())
        with self.engine.connect() as conn:
            last = conn.execute(select(func.max(entries.c.seq))).scalar()
        return Checkpoint(seq=last or 0, entry_hash=result.head_hash, entries=result.entries,
                          taken_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _to_entry(row) -> Entry:
    data = dict(row)
    data["evidence"] = json.loads(data["evidence"] or "[]")
    data["details"] = json.loads(data["details"] or "{}")
    data["amount_rmb_stored"] = Decimal(data.pop("amount_rmb"))
    data["occurred_on"] = date.fromisoformat(data["occurred_on"])
    return Entry.model_validate(data)


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_setup(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below take effect
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # one writer at a time: the chain stays linear

        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # unknown dialect or missing driver
        raise InputError(f"cannot open the ledger at {redact_url(url)!r}: {str(exc).splitlines()[0]}. For PostgreSQL use "
                         "postgresql+pg8000://user:password@host/db (pip install 'microdrama[postgres]')") from None


def upgrade(engine: Engine) -> None:
    """Bring the ledger schema to the latest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # concurrent first opens must not race on CREATE TABLE
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242017)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
