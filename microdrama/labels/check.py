"""`microdrama label check`: read every label back and judge it clause by clause.

Used as a publishing gate: the pipeline checks every file it publishes, and the CLI exits
non-zero when any clause fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from microdrama.labels.carriers import content_hash, kind_of, legacy_content_hash, read_label
from microdrama.labels.tc260 import AigcLabel

MIN_HEIGHT_FRACTION = 0.05
MIN_SECONDS = 2.0
PLACEHOLDER_PRODUCER = "0011000000000000000000"


@dataclass
class Clause:
    clause: str
    ok: bool
    detail: str


@dataclass
class FileReport:
    path: str
    clauses: list[Clause] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.clauses)

    def as_dict(self) -> dict:
        return {"path": self.path, "ok": self.ok, "warnings": self.warnings,
                "clauses": [{"clause": c.clause, "ok": c.ok, "detail": c.detail} for c in self.clauses]}


def check_file(path: str | Path, *, require_c2pa: bool = False, trust_anchors: Path | None = None,
               visible: bool = True) -> FileReport:
    """All clauses for one file. `visible=False` skips the on-screen label (e.g. for a clip, not a cut)."""
    path = Path(path)
    report = FileReport(str(path))
    kind = kind_of(path)
    if kind == "mp4" and visible:
        report.clauses.append(_visible(path))
    raw = read_label(path)
    if raw is None:
        report.clauses.append(Clause("GB 45438 Appendix E: implicit label present", False,
                                     "no TC260 AIGC metadata found (stripped, or never written)"))
    else:
        report.clauses.append(Clause("GB 45438 Appendix E: implicit label present", True, f"{len(raw)} bytes"))
        try:
            label = AigcLabel.from_json(raw)
        except ValueError as exc:
            report.clauses.append(Clause("Appendix E: fields, values and character set", False, str(exc)))
        else:
            report.clauses.append(Clause("Appendix E: fields, values and character set", True,
                                         f"Label={label.label}, producer {label.content_producer}"))
            if label.content_producer.startswith(PLACEHOLDER_PRODUCER):
                report.warnings.append("ContentProducer is the demo placeholder; configure your provider code")
            try:
                actual = f"sha256-{content_hash(path)}"
            except Exception as exc:  # a damaged file must fail the check, not crash it
                report.clauses.append(Clause("ReservedCode1: content integrity hash", False,
                                             f"content cannot be decoded: {exc}"))
            else:
                same = label.reserved_code1 == actual
                detail = "matches the content"
                if not same and _legacy_match(path, label.reserved_code1):
                    same, detail = True, "matches the content (hashed as labels before 2026-11 did: decoded)"
                report.clauses.append(Clause(
                    "ReservedCode1: content integrity hash", same, detail if same else
                    f"content changed: recorded {label.reserved_code1[:20]}…, now {actual[:20]}…"))
    report.clauses.append(_credentials(path, require_c2pa, trust_anchors))
    return report


def _legacy_match(path: Path, recorded: str) -> bool:
    """Whether `recorded` is the hash an earlier microdrama wrote (of demuxed packets, of decoded pixels)."""
    try:
        return recorded == f"sha256-{legacy_content_hash(path)}"
    except Exception:  # undecodable: it cannot match
        return False


def _visible(path: Path) -> Clause:
    from microdrama.labels.visible import measure

    try:
        samples, shorter = measure(path, until_s=MIN_SECONDS)
    except Exception as exc:
        return Clause("GB 45438 §5.4: visible label", False, f"frames cannot be decoded: {exc}")
    need = MIN_HEIGHT_FRACTION * shorter
    ok = len(samples) > 0 and all(s.height_px >= need for s in samples) and samples[-1].t >= MIN_SECONDS
    detail = ", ".join(f"{s.t:.1f}s: {s.height_px}px" for s in samples) + f" (need ≥ {need:.0f}px = 5% of {shorter})"
    return Clause("GB 45438 §5.4: visible label ≥ 5% of the shorter side for ≥ 2 s from the start", ok, detail)


def _credentials(path: Path, required: bool, trust_anchors: Path | None) -> Clause:
    title = "C2PA content credentials (trainedAlgorithmicMedia)"
    try:
        from microdrama.labels.credentials import is_ai_created, read_credentials

        state, manifest = read_credentials(path, trust_anchors)
    except Exception as exc:  # c2pa not installed: only a failure when credentials are required
        return Clause(title, not required, f"could not read credentials: {exc}")
    if state is None:
        return Clause(title, not required, "no manifest" + (" (required by config)" if required else " (optional)"))
    ok = state in ("Valid", "Trusted") and is_ai_created(manifest)
    return Clause(title, ok, f"validation state {state}" + ("" if is_ai_created(manifest) else
                                                           "; no c2pa.created trainedAlgorithmicMedia action"))
