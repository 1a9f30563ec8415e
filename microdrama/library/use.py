"""The library at work: resolving a screenplay's assets before a run spends, recording corpus purchases
in the ledger, and saving a run's generated characters back as assets with their provenance.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microdrama.domain import Brief, Screenplay, Voice, VoiceConsent
from microdrama.errors import InputError
from microdrama.library.models import AssetVersion
from microdrama.library.store import Library

if TYPE_CHECKING:
    from microdrama.config import LedgerConfig, ProjectConfig
    from microdrama.ledger.manual import EvidenceStore
    from microdrama.ledger.rates import RateCards


class RightsError(InputError):
    """A library asset may not be used: licence or consent expired, wrong territory, retired or tampered."""


def open_library(config: "LedgerConfig", url: str | None = None,
                 out_dir: str | Path = "out") -> tuple[Library, "RateCards", "EvidenceStore"]:
    """The library on the ledger's database (an explicit URL wins over the config), its files beside the
    SQLite file (or under OUT/library for a server database), with the ledger's rate cards and evidence store."""
    from microdrama.ledger import ledger_url
    from microdrama.ledger.manual import open_books

    url = url or ledger_url(config.url, out_dir)
    ledger, rates, evidence = open_books(url, config)
    root = (Path(url.removeprefix("sqlite:///")).parent if url.startswith("sqlite:///") else Path(out_dir)) / "library"
    return Library(ledger, root), rates, evidence


def references(material: Brief | Screenplay) -> list[tuple[str, str]]:
    """(who uses it, asset reference) for every library asset the brief or screenplay names."""
    if isinstance(material, Brief):
        return [(f"character {c.name}", c.asset) for c in material.characters if c.asset]
    refs = []
    for c in material.series.characters:
        if c.asset:
            refs.append((f"character {c.id}", c.asset))
        if c.voice is not None and c.voice.asset:
            refs.append((f"voice of {c.id}", c.voice.asset))
    return refs


def use_assets(material: Brief | Screenplay, config: "ProjectConfig", out_dir: str | Path,
               on: date | None = None) -> list[dict[str, Any]]:
    """Check every asset the material names and fill the material from them (in place: the pipeline goes on
    with this very object). Any asset that is retired, tampered with, past its licence or a person's consent,
    or not licensed in the release territory stops here, before any paid call. Returns the manifest's record."""
    refs = references(material)
    if not refs:
        return []
    library = open_library(config.ledger, out_dir=out_dir)[0]
    on, territory = on or date.today(), config.filing.territory
    found: dict[str, AssetVersion] = {}
    problems: list[str] = []
    for where, ref in refs:
        try:
            version = found.get(ref) or library.get(ref)
        except InputError as exc:
            problems.append(f"{where}: {exc}")
            continue
        wanted = "voice" if where.startswith("voice") else "character"
        if version.kind != wanted:
            problems.append(f"{where} names {version.ref}, a {version.kind} asset; name a {wanted} asset")
        info = library.info(version.asset_id)
        if info.retired_at:
            problems.append(f"{where} uses {version.ref}, retired on {info.retired_at[:10]} ({info.retired_reason})")
        problems += [f"{where} uses {version.ref}: {p}" for p in version.problems(territory, on)]
        if ref not in found:
            problems += [f"{where}: {p}" for p in library.verify(version.ref)]
        found[ref] = version
    if problems:
        raise RightsError("the library's rights stop this run before any paid call:\n  - " + "\n  - ".join(problems)
                          + "\nRenew the licence or consent (a new version: `microdrama assets add` / `assets consent "
                          "add`) and name it, or use another asset.")
    _fill(material, found, library)
    return [_record(where, found[ref], library) for where, ref in refs]


def _voice_of(version: AssetVersion, library: Library) -> Voice:
    """The voice an asset stands for; a cloned voice gets its stored clip and the speaker's voice consent."""
    if version.voice is None:
        raise RightsError(f"{version.ref} has no voice settings; give the character a voice in the screenplay")
    clip = version.file("reference_clip")
    if clip is None:
        return version.voice
    consent = max((c for c in version.consents if c.covers == "voice"), key=lambda c: c.expires)
    return version.voice.model_copy(update={
        "reference_clip": library.path_of(clip),
        "consent": VoiceConsent(speaker=consent.person, scope=consent.scope, expires=consent.expires,
                                evidence_sha256=consent.evidence_sha256)})


def _merged(written: Voice, library_voice: Voice) -> Voice:
    """What the screenplay writes wins; the library fills the rest."""
    given = {k: getattr(written, k) for k in written.model_fields_set}
    return Voice.model_validate({**library_voice.model_dump(exclude_none=True), **given})


def _fill(material: Brief | Screenplay, found: dict[str, AssetVersion], library: Library) -> None:
    if isinstance(material, Brief):
        material.characters = [c.model_copy(update={"look": c.look or found[c.asset].look or ""}) if c.asset else c
                               for c in material.characters]
        return
    characters = []
    for c in material.series.characters:
        update: dict[str, Any] = {}
        if c.asset:
            version = found[c.asset]
            if c.look is None:
                update["look"] = version.look
            if c.voice is None:
                update["voice"] = _voice_of(version, library)
        voice = update.get("voice", c.voice)
        if voice is not None and voice.asset:
            update["voice"] = _merged(voice, _voice_of(found[voice.asset], library))
        characters.append(c.model_copy(update=update) if update else c)
    material.series.characters = characters


def _record(where: str, v: AssetVersion, library: Library) -> dict[str, Any]:
    """One asset version as the manifest and the filing pack cite it; a character's reference image by path, so
    image-to-video starts from the library's sheet instead of generating one."""
    image = v.file("image") if where.startswith("character ") else None
    return {"used_by": where, "ref": v.ref, **({"image_path": str(library.path_of(image))} if image else {}), "kind": v.kind, "name": v.name, "record_sha256": v.digest(),
            "files": [f.model_dump() for f in v.files],
            "provenance": v.provenance.model_dump(mode="json", exclude_none=True),
            "rights": v.rights.model_dump(mode="json"), "person": v.person,
            "consents": [c.model_dump(mode="json") for c in v.consents]}


def describe_rights(records: list[dict[str, Any]]) -> str:
    """One line per asset version an episode relies on, for the online filing pack."""
    lines, seen = [], set()
    for r in records:
        if r["ref"] in seen:
            continue
        seen.add(r["ref"])
        rights = r["rights"]
        line = (f"{r['ref']} {r['name']} ({r['used_by']}): owner {rights['owner']}, licence {rights['licence']}, "
                f"territories {', '.join(rights['territories'])}, until {rights['expires'] or 'perpetual'}")
        for c in r["consents"]:
            line += (f"; consent of {c['person']} to use their {c['covers']} ({c['scope']}, until {c['expires']}, "
                     f"evidence sha256 {c['evidence_sha256']})")
        lines.append(line)
    return "\n".join(lines)


# ---- corpus purchases ------------------------------------------------------------------------------------


def record_corpus(library: Library, rates: "RateCards", evidence: "EvidenceStore", fields: dict,
                  files: list[tuple[str, str | Path]]) -> AssetVersion:
    """A bought corpus: its contract, invoice and non-affiliation declaration are hashed into a ledger entry in
    the corpus category (so the claim pack shows it) and into the asset's version, which cites the entry."""
    from microdrama.domain import parse_model
    from microdrama.ledger.manual import ManualEntry

    purchase = fields.get("corpus") or {}
    evidence_files = [(role, str(p)) for role, p in files if role in ("contract", "invoice", "declaration")]
    if not any(role == "contract" for role, _ in evidence_files):
        raise InputError("a corpus purchase needs its contract: --file contract=PATH (and invoice=, declaration=)")
    manual = parse_model(ManualEntry, {
        "category": "corpus", "date": purchase.get("bought_on"), "project": purchase.get("project"),
        "description": f"corpus {fields.get('asset_id')}: {fields.get('name', '')}", "amount": purchase.get("amount"),
        "currency": purchase.get("currency", "RMB"), "fx_rate": purchase.get("fx_rate"),
        "vendor": purchase.get("vendor"), "contract_no": purchase.get("contract_no"),
        "invoice_no": purchase.get("invoice_no"), "affiliated": purchase.get("affiliated"),
        "declaration_ref": purchase.get("declaration_ref"), "evidence": evidence_files,
    }, source=f"corpus purchase {fields.get('asset_id')}")
    key = f"library-corpus:{fields.get('asset_id')}:{manual.contract_no}:{manual.invoice_no or ''}"
    seq, _ = library.ledger.append(manual.to_entry(rates, evidence, Path.cwd(), key=key))
    provenance = {"source": "bought", "vendor": manual.vendor, "contract_no": manual.contract_no,
                  "invoice_no": manual.invoice_no, "acquired_on": manual.date.isoformat(),
                  **(fields.get("provenance") or {})}
    return library.add({**fields, "provenance": provenance, "corpus": {**purchase, "ledger_seq": seq}}, files)


# ---- saving a run's characters back -------------------------------------------------------------------------


def from_run(library: Library, run_dir: str | Path, character_id: str, fields: dict) -> AssetVersion:
    """A character a run generated (its look, its cast voice, its reference image if the run made one) saved
    as a library asset, with the model, version, seed and run that made it."""
    from microdrama.artifact_store import STORE_TOKEN
    from microdrama.domain import load_model
    from microdrama.run import Manifest

    run_dir = Path(run_dir)
    manifest = Manifest.read(run_dir)
    screenplay = load_model(Screenplay, run_dir / "screenplay.json")
    try:
        character = screenplay.series.character(character_id)
    except KeyError:
        known = ", ".join(c.id for c in screenplay.series.characters)
        raise InputError(f"--character {character_id}: not in {run_dir}/screenplay.json (known: {known})") from None
    cast = next((e for e in manifest.cast if e["speaker"] == character_id), {})
    voice = character.voice.model_copy(update={"reference_clip": None, "consent": None, "asset": None,
                                               "engine": character.voice.engine or cast.get("engine")})
    store = run_dir.parent / ".store"
    files: list[tuple[str, Path]] = []
    provenance = {"source": "generated", "run_id": manifest.run_id, "prompt": f"{character.name}: {character.look}",
                  "model": cast.get("engine") or manifest.skills.get("dubbing", {}).get("skill"),
                  "model_version": None}
    for record in manifest.usage:
        result = store / record.cache_key[:2] / record.cache_key / "result.json"
        if record.task != "character-reference" or not result.is_file():
            continue
        out = json.loads(result.read_text(encoding="utf-8"))["output"]
        if out.get("key") == character_id:
            files.append(("image", Path(out["image"].replace(STORE_TOKEN, str(store)))))
            provenance.update(model=record.usage.skill, model_version=record.usage.version, seed=out.get("seed"))
    if provenance["model_version"] is None:
        provenance["model_version"] = manifest.skills.get("dubbing", {}).get("version")
    data = {"asset_id": f"char:{character_id}", "name": character.name, "look": character.look,
            "voice": voice.model_dump(mode="json", exclude_none=True), "provenance": provenance,
            "note": f"saved from run {manifest.run_id} ({run_dir})", **fields}
    return library.add(data, files, carry=False)
