"""`microdrama assets`: the digital-asset and IP library (registered on the main app in microdrama/cli.py)."""

from __future__ import annotations

import functools
import json
from datetime import date
from pathlib import Path
from typing import Callable, Optional

import typer

from microdrama.errors import InputError


class _Assets(typer.Typer):
    """Commands run inside the main CLI's one error boundary (looked up when a command runs)."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def wrap(fn: Callable) -> Callable:
            @functools.wraps(fn)
            def guarded(*a, **kw):
                from microdrama.cli import _boundary

                return _boundary(fn)(*a, **kw)
            return register(guarded)
        return wrap


assets_app = _Assets(help="The digital-asset and IP library: characters, voices, locations, props, music, fonts "
                          "and corpora with their provenance, rights and consents.", no_args_is_help=True)
consent_app = _Assets(help="Consent of real people to use their likeness or voice.", no_args_is_help=True)
assets_app.add_typer(consent_app, name="consent")

LedgerOpt = typer.Option(None, "--ledger", envvar="MICRODRAMA_LEDGER_URL",
                         help="database URL (default: the config's ledger, else sqlite:///OUT/ledger.sqlite)")
ConfigOpt = typer.Option(None, "--config", help="project config YAML (ledger URL, rate card, evidence dir)")
OutOpt = typer.Option(Path("out"), "--out", help="the runs folder whose ledger and library are used by default")


def _open(ledger: Optional[str], config: Optional[Path], out: Path):
    from microdrama.config import ProjectConfig
    from microdrama.library import open_library

    return open_library(ProjectConfig.load(config).ledger, ledger, out)


def _date(value: Optional[str], name: str) -> Optional[str]:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise InputError(f"{name}: {value!r} is not a date; use YYYY-MM-DD") from None


def _pairs(items: list[str], what: str) -> list[tuple[str, Path]]:
    out = []
    for item in items:
        role, sep, path = item.partition("=")
        if not sep or not path:
            raise InputError(f"{what} {item!r}: write role=path, e.g. image=lin_xia.png or contract=contract.pdf")
        out.append((role.strip(), Path(path.strip())))
    return out


@assets_app.command("add")
def add(
    asset: Optional[str] = typer.Argument(None, help="KIND:ID, e.g. char:lin_xia, voice:warm_female, corpus:news_2025 "
                                                     "(a new version when it exists)"),
    name: Optional[str] = typer.Option(None, help="display name"),
    description: Optional[str] = typer.Option(None),
    file: list[str] = typer.Option([], "--file", help="role=path, repeatable: image=, reference_clip=, audio=, font=, "
                                                      "corpus=, contract=, invoice=, declaration="),
    look: Optional[str] = typer.Option(None, help="character: the look used in visual prompts"),
    gender: Optional[str] = typer.Option(None, help="voice: female | male"),
    variant: Optional[int] = typer.Option(None), pitch: Optional[int] = typer.Option(None),
    rate: Optional[int] = typer.Option(None), engine: Optional[str] = typer.Option(None),
    voice_id: Optional[str] = typer.Option(None, help="the engine's own voice name, e.g. zf_xiaobei"),
    source: Optional[str] = typer.Option(None, help="generated | bought | licensed | own"),
    model: Optional[str] = typer.Option(None, help="generated: the model or skill"),
    model_version: Optional[str] = typer.Option(None), seed: Optional[int] = typer.Option(None),
    prompt: Optional[str] = typer.Option(None), vendor: Optional[str] = typer.Option(None, help="bought/licensed from"),
    contract_no: Optional[str] = typer.Option(None), invoice_no: Optional[str] = typer.Option(None),
    owner: Optional[str] = typer.Option(None, help="rights holder"),
    licence: Optional[str] = typer.Option(None, help="the terms, e.g. 'exclusive buyout', 'CC-BY-4.0', 'own work'"),
    scope: Optional[str] = typer.Option(None, help="what the use covers"),
    territory: list[str] = typer.Option([], "--territory", help="ISO 3166 code where it may be used (repeatable), "
                                                                "or WORLD"),
    expires: Optional[str] = typer.Option(None, help="licence end, YYYY-MM-DD (empty: perpetual)"),
    person: Optional[str] = typer.Option(None, help="a real person whose likeness or voice it carries"),
    tag: list[str] = typer.Option([], "--tag", help="repeatable, e.g. series:逆袭千金"),
    note: Optional[str] = typer.Option(None, help="what changed in this version"),
    project: Optional[str] = typer.Option(None, help="corpus: R&D project code"),
    amount: Optional[str] = typer.Option(None, help="corpus: price"), currency: str = typer.Option("RMB"),
    fx_rate: Optional[str] = typer.Option(None), bought_on: Optional[str] = typer.Option(None, "--date"),
    affiliated: Optional[bool] = typer.Option(None, "--affiliated/--not-affiliated", help="corpus: vendor affiliated?"),
    declaration_ref: Optional[str] = typer.Option(None, help="corpus: signed non-affiliation declaration reference"),
    from_run: Optional[Path] = typer.Option(None, "--from-run", help="save a run's character (look, voice, reference "
                                                                     "image) with its provenance"),
    character: Optional[str] = typer.Option(None, help="with --from-run: the character id"),
    ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt, out: Path = OutOpt,
) -> None:
    """Add an asset, or a new version of it: what is not given is carried from the latest version."""
    from microdrama.library import from_run as save_from_run
    from microdrama.library import record_corpus

    voice = {k: v for k, v in {"gender": gender, "variant": variant, "pitch": pitch, "rate": rate, "engine": engine,
                               "voice_id": voice_id}.items() if v is not None}
    provenance = {k: v for k, v in {"source": source, "model": model, "model_version": model_version, "seed": seed,
                                    "prompt": prompt, "vendor": vendor, "contract_no": contract_no,
                                    "invoice_no": invoice_no}.items() if v is not None}
    rights = {k: v for k, v in {"owner": owner, "licence": licence, "scope": scope, "territories": territory or None,
                                "expires": _date(expires, "--expires")}.items() if v is not None}
    library, rates, evidence = _open(ledger, config, out)
    if rights:
        latest = None
        if asset and ":" in asset:
            try:
                latest = library.get(asset.partition("@")[0]).rights.model_dump(mode="json")
            except InputError:
                latest = None
        rights = {**(latest or {}), **rights}
    fields = {"asset_id": asset, "name": name, "description": description, "look": look, "person": person,
              "voice": voice or None, "provenance": provenance or None, "rights": rights or None,
              "tags": tag or None, "note": note}
    if from_run is not None:
        if not character:
            raise InputError("--from-run needs --character ID (the character to save)")
        version = save_from_run(library, from_run, character, {k: v for k, v in fields.items() if v is not None
                                                               and k not in ("voice", "provenance")})
    elif asset and asset.startswith("corpus:"):
        purchase = {"project": project, "vendor": vendor, "contract_no": contract_no, "invoice_no": invoice_no,
                    "amount": amount, "currency": currency, "fx_rate": fx_rate, "bought_on": _date(bought_on, "--date"),
                    "affiliated": affiliated, "declaration_ref": declaration_ref}
        version = record_corpus(library, rates, evidence, {**fields, "corpus": purchase}, _pairs(file, "--file"))
        typer.echo(f"ledger: corpus entry seq {version.corpus.ledger_seq}")
    else:
        if not asset:
            raise InputError("give the asset as KIND:ID (e.g. char:lin_xia), or --from-run RUN_DIR --character ID")
        version = library.add(fields, _pairs(file, "--file"))
    typer.echo(f"added {version.ref} ({version.kind}, {len(version.files)} file(s), record sha256 "
               f"{version.digest()[:16]}…)")


@consent_app.command("add")
def consent_add(
    asset: str = typer.Argument(..., help="KIND:ID of the asset that carries the person's likeness or voice"),
    person: str = typer.Option(..., help="who consents"),
    covers: str = typer.Option(..., help="likeness | voice"),
    scope: str = typer.Option(..., help="what the consent covers"),
    expires: str = typer.Option(..., help="last valid day, YYYY-MM-DD"),
    evidence: Path = typer.Option(..., help="the signed consent file (kept by its sha256)"),
    ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt, out: Path = OutOpt,
) -> None:
    """Record a real person's consent: a new version of the asset carrying it."""
    library = _open(ledger, config, out)[0]
    latest = library.get(asset.partition("@")[0])
    proof = library.store_file(evidence, f"consent_{len(latest.consents) + 1}")
    consent = {"person": person, "covers": covers, "scope": scope, "expires": _date(expires, "--expires"),
               "evidence_sha256": proof.sha256}
    version = library.add({"asset_id": latest.asset_id, "person": latest.person or person,
                           "consents": [*(c.model_dump(mode="json") for c in latest.consents), consent],
                           "note": f"consent of {person} ({covers}) until {consent['expires']}"},
                          [(f"consent_{len(latest.consents) + 1}", evidence)])
    typer.echo(f"added {version.ref}: consent of {person} to use their {covers}, evidence sha256 {proof.sha256}")


@assets_app.command("list")
def list_assets(kind: Optional[str] = typer.Option(None, help="character | voice | location | prop | music | font | "
                                                              "corpus"),
                tag: Optional[str] = typer.Option(None),
                ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt, out: Path = OutOpt) -> None:
    """Every asset with its latest version, rights and status."""
    rows = _open(ledger, config, out)[0].catalogue(kind, tag)
    if not rows:
        typer.echo("the library is empty (`microdrama assets add`)")
    for info, v in rows:
        status = f"retired {info.retired_at[:10]}" if info.retired_at else "in use"
        typer.echo(f"{v.ref}\t{v.kind}\t{v.name}\t{v.rights.owner} / {v.rights.licence}\t"
                   f"{','.join(v.rights.territories)}\tuntil {v.rights.expires or 'perpetual'}\t{status}")


@assets_app.command("show")
def show(asset: str = typer.Argument(..., help="KIND:ID or KIND:ID@VERSION"),
         ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt, out: Path = OutOpt) -> None:
    """One version's full record (JSON), with its record hash."""
    library = _open(ledger, config, out)[0]
    v = library.get(asset)
    info = library.info(v.asset_id)
    typer.echo(json.dumps({**v.model_dump(mode="json"), "record_sha256": v.digest(), "latest": info.latest,
                           "retired": info.retired_at and f"{info.retired_at} ({info.retired_reason})"},
                          ensure_ascii=False, indent=2))


@assets_app.command("retire")
def retire(asset: str = typer.Argument(..., help="KIND:ID"), reason: str = typer.Option(..., help="kept on record"),
           ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt, out: Path = OutOpt) -> None:
    """No run may use the asset any more; its versions stay on record."""
    _open(ledger, config, out)[0].retire(asset, reason)
    typer.echo(f"{asset} retired")


@assets_app.command("verify")
def verify(asset: Optional[str] = typer.Argument(None, help="KIND:ID[@VERSION]; empty = the whole library"),
           ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt, out: Path = OutOpt) -> None:
    """Recompute every file's and record's sha256; exit 1 naming each one changed or missing."""
    problems = _open(ledger, config, out)[0].verify(asset)
    for p in problems:
        typer.echo(p, err=True)
    if problems:
        raise typer.Exit(code=1)
    typer.echo("library intact: every file and record matches its sha256")


@assets_app.command("export")
def export(series: str = typer.Option(..., help="the series title (as in its screenplay)"),
           runs: Optional[Path] = typer.Option(None, help="folder of run folders (default: --out)"),
           to: Optional[Path] = typer.Option(None, "--to", help="report folder (default OUT/rights/<series>)"),
           ledger: Optional[str] = LedgerOpt, config: Optional[Path] = ConfigOpt, out: Path = OutOpt) -> None:
    """Rights report of a series (HTML with the CJK font embedded, XLSX): every asset version its episodes used
    or that is tagged series:TITLE, with owner, licence, territories, expiry, consents and evidence hashes."""
    from microdrama.config import ProjectConfig
    from microdrama.domain import folder_name
    from microdrama.library.report import rights_report

    cfg = ProjectConfig.load(config)
    library = _open(ledger, config, out)[0]
    paths = rights_report(library, series, runs or out, to or out / "rights" / folder_name(series),
                          cfg.filing.territory)
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")
