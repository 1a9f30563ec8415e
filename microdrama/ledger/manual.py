"""Manual ledger entries (invoices, corpus purchases, staff time, equipment) and CSV import.

Evidence files (invoices, contracts, non-affiliation declarations) are stored by content hash and
the hash goes into the entry, so the chain also proves which document backed which cost.
A CSV import validates every row first and records all of them in one transaction, or none;
importing the same file twice records nothing the second time.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import hashlib
import io
import shutil
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from microdrama.domain import Strict, read_text_file
from microdrama.errors import InputError, format_validation_error
from microdrama.files import atomic_path, atomic_write_text
from microdrama.ledger.rates import RateCards
from microdrama.ledger.store import EntryIn, Ledger

if TYPE_CHECKING:
    from microdrama.config import LedgerConfig
    from microdrama.ledger.store import Checkpoint

EvidenceKind = Literal["invoice", "contract", "declaration", "timesheet", "payment", "other"]
ManualCategory = Literal["compute_rental", "model_api", "corpus", "staff", "equipment", "software", "other"]


class EvidenceStore:
    """Files kept under their sha256, so the same document is stored once and cannot change."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def add(self, path: str | Path, kind: str) -> dict[str, str]:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"evidence file {path} does not exist")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        target = self.path_for(digest, path.suffix)
        if not target.exists():
            with atomic_path(target) as tmp:
                shutil.copyfile(path, tmp)
        return {"kind": kind, "sha256": digest, "name": path.name}

    def path_for(self, digest: str, suffix: str = "") -> Path:
        return self.root / digest[:2] / f"{digest}{suffix.lower()}"

    def check(self, ref: dict[str, str]) -> bool:
        """True when the stored file still has the hash the ledger recorded."""
        matches = list((self.root / ref["sha256"][:2]).glob(f"{ref['sha256']}*"))
        return any(hashlib.sha256(m.read_bytes()).hexdigest() == ref["sha256"] for m in matches)


MAX_AMOUNT = Decimal("1e15")  # far above any R&D budget; larger figures are typing mistakes
# ISO 4217 codes a pilot base pays in (RMB stands for CNY, as in the rest of the ledger).
CURRENCIES = frozenset("""RMB USD EUR HKD MOP TWD JPY KRW GBP SGD AUD NZD CAD CHF SEK NOK DKK MYR THB IDR VND PHP
INR AED SAR QAR KWD BHD OMR ILS TRY RUB KZT BRL MXN ARS CLP COP PEN ZAR EGP NGN KES MAD PKR BDT LKR NPR MMK KHR
LAK MNT UZS CZK PLN HUF RON BGN ISK UAH""".split())


class ManualEntry(Strict):
    """One manual cost, as typed on the command line or in a CSV row."""

    category: ManualCategory = Field(description="compute_rental, model_api, corpus, staff, equipment, software or other")
    date: dt.date = Field(description="when the cost was incurred, YYYY-MM-DD")
    project: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="the R&D project code")
    description: str = Field("", description="what was bought or done")
    amount: Decimal | None = Field(None, gt=0, lt=MAX_AMOUNT, decimal_places=6,
                                   description="amount in `currency` (> 0, at most 6 decimal places; corrections "
                                               "are reversals)")
    currency: str = Field("RMB", description="ISO 4217 code, e.g. RMB (or CNY), USD, EUR, HKD, JPY")
    fx_rate: Decimal | None = Field(None, gt=0, lt=MAX_AMOUNT, decimal_places=6,
                                    description="RMB per unit of currency on the date (needed unless RMB)")
    vendor: str | None = Field(None, description="the counterparty named on contract, invoice and payment")
    contract_no: str | None = None
    invoice_no: str | None = None
    affiliated: bool | None = Field(None, description="corpus only: is the vendor an affiliated party? yes/no")
    declaration_ref: str | None = Field(None, description="reference of the signed non-affiliation declaration")
    person: str | None = None
    role: str | None = Field(None, description="staff role, priced by the rate card's staff_day table")
    hours: Decimal | None = Field(None, gt=0, le=24 * 31)
    evidence: list[tuple[EvidenceKind, str]] = Field(
        default_factory=list, description="kind=path pairs, e.g. invoice=inv-001.pdf"
    )

    @field_validator("currency", mode="before")
    @classmethod
    def _iso_currency(cls, value):
        code = str(value).strip().upper()
        code = "RMB" if code == "CNY" else code  # the ledger books renminbi as RMB; CNY is its ISO code
        if code not in CURRENCIES:
            close = difflib.get_close_matches(code, sorted(CURRENCIES), n=3)
            raise ValueError(f"{value!r} is not an ISO 4217 currency code this ledger knows"
                             + (f"; did you mean {', '.join(close)}?" if close else "; use e.g. RMB, USD, EUR"))
        return code

    @field_validator("evidence", mode="before")
    @classmethod
    def _parse_evidence(cls, value):
        if isinstance(value, str):
            value = [v for v in value.split(";") if v.strip()]
        out = []
        for item in value or []:
            if isinstance(item, str):
                kind, sep, path = item.partition("=")
                if not sep:
                    raise ValueError(f"evidence '{item}' must be kind=path, e.g. invoice=inv-001.pdf")
                item = (kind.strip(), path.strip())
            out.append(item)
        return out

    @model_validator(mode="after")
    def _category_rules(self) -> "ManualEntry":
        c = self.category
        if c == "staff":
            missing = [f for f in ("person", "role", "hours") if getattr(self, f) in (None, "")]
            if missing:
                raise ValueError(f"staff time needs {', '.join(missing)} (person, role and hours worked)")
        else:
            if self.amount is None:
                raise ValueError(f"a {c} entry needs an amount")
            if not self.vendor:
                raise ValueError(f"a {c} entry needs the vendor (the counterparty on the contract and invoice)")
        if c == "corpus":
            if not self.contract_no:
                raise ValueError("a corpus purchase needs contract_no")
            if self.affiliated is None:
                raise ValueError("a corpus purchase must say affiliated=yes or affiliated=no "
                                 "(corpus from affiliated parties is not subsidised)")
        if self.currency != "RMB" and self.fx_rate is None:
            raise ValueError(f"an amount in {self.currency} needs fx_rate (RMB per {self.currency} on {self.date})")
        return self

    def to_entry(self, rates: RateCards, evidence: EvidenceStore, base_dir: Path, key: str | None = None) -> EntryIn:
        amount, rate_ref = self.amount, None
        if self.category == "staff" and amount is None:
            amount, rate_ref = rates.staff_cost(self.role or "", self.hours or Decimal(0), self.date)
        refs = [evidence.add((base_dir / p) if not Path(p).is_absolute() else Path(p), kind) for kind, p in self.evidence]
        return EntryIn(
            kind="manual", category=self.category, project_code=self.project, occurred_on=self.date,
            description=self.description, amount=amount, currency=self.currency, fx_rate=self.fx_rate or Decimal(1),
            quantity=self.hours, unit="hour" if self.hours else None, rate_ref=rate_ref, vendor=self.vendor,
            contract_no=self.contract_no, invoice_no=self.invoice_no, affiliated=self.affiliated,
            declaration_ref=self.declaration_ref, person=self.person, role=self.role, hours=self.hours,
            evidence=refs, idempotency_key=key,
        )


CSV_COLUMNS = ["category", "date", "project", "description", "amount", "currency", "fx_rate", "vendor",
               "contract_no", "invoice_no", "affiliated", "declaration_ref", "person", "role", "hours", "evidence"]


def _clean(row: dict[str, str]) -> dict[str, object]:
    data: dict[str, object] = {k: v.strip() for k, v in row.items() if k and v is not None and v.strip() != ""}
    if "affiliated" in data:
        flag = str(data["affiliated"]).lower()
        if flag not in {"yes", "no", "true", "false", "1", "0", "是", "否"}:
            raise ValueError(f"affiliated must be yes or no, got {data['affiliated']!r}")
        data["affiliated"] = flag in {"yes", "true", "1", "是"}
    return data


def import_csv(path: str | Path, ledger: Ledger, rates: RateCards, evidence: EvidenceStore) -> list[int]:
    """Validate every row, then record them all in one transaction. Returns the new seqs."""
    path = Path(path)
    text = read_text_file(path, "Pass the CSV file to import.", max_bytes=64 * 1024 * 1024)
    raw = path.read_bytes()  # the file's own bytes key the import, so importing it again records nothing
    reader = csv.DictReader(io.StringIO(text))
    unknown = [c for c in (reader.fieldnames or []) if c not in CSV_COLUMNS]
    if unknown:
        raise InputError(f"{path}: unknown column(s) {', '.join(unknown)}. Allowed: {', '.join(CSV_COLUMNS)}")
    file_key = hashlib.sha256(raw).hexdigest()[:16]
    errors, entries = [], []
    for row in reader:
        line = reader.line_num
        try:
            manual = ManualEntry.model_validate(_clean(row))
            entries.append(manual.to_entry(rates, evidence, path.parent, key=f"csv:{file_key}:{line}"))
        except ValidationError as exc:
            detail = format_validation_error(exc, ManualEntry).split("\n", 1)[1].replace("\n", "\n  ")
            errors.append(f"line {line}:\n  {detail}")
        except (ValueError, InvalidOperation, InputError) as exc:
            errors.append(f"line {line}: {exc}")
    if errors:
        raise InputError(f"{path}: {len(errors)} bad row(s); nothing was imported.\n" + "\n".join(errors))
    if not entries:
        raise InputError(f"{path}: no rows to import")
    return [seq for seq, created in ledger.append_many(entries) if created]


def save_checkpoint(checkpoint: "Checkpoint", folder: Path) -> Path:
    """Keep a checkpoint as a JSON file (the evidence store's `checkpoints/`, or an auditor's folder)."""
    return atomic_write_text(Path(folder) / checkpoint.name(), checkpoint.model_dump_json(indent=2))


def load_checkpoints(*places: Path) -> list["Checkpoint"]:
    """Every checkpoint in these files or folders; a file that is not one is an error naming it."""
    from microdrama.ledger.store import Checkpoint

    found = []
    for place in places:
        files = sorted(Path(place).glob("checkpoint-*.json")) if Path(place).is_dir() else [Path(place)]
        for f in files:
            if not f.is_file():
                raise InputError(f"--checkpoint {f}: no such file")
            try:
                found.append(Checkpoint.model_validate_json(f.read_text(encoding="utf-8")))
            except ValueError as exc:
                raise InputError(f"{f} is not a ledger checkpoint ({str(exc).splitlines()[0]})") from None
    return found


def open_books(url: str | None, config: "LedgerConfig") -> tuple[Ledger, RateCards, EvidenceStore]:
    """The ledger, rate cards and evidence store a command works on: an explicit URL wins over the config."""
    from microdrama.ledger import ledger_url

    url = url or ledger_url(config.url)
    evidence_dir = config.evidence_dir or (Path(url.removeprefix("sqlite:///")).parent / "evidence"
                                           if url.startswith("sqlite:///") else Path("out/evidence"))
    return Ledger(url), RateCards.load(config.rate_card), EvidenceStore(evidence_dir)
