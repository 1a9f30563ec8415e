"""The library store: asset records in the ledger's database, files in a content-addressed folder.

Records live next to the costs they explain (SQLite by default, PostgreSQL by URL; the tables come
from the ledger's Alembic migrations). Adding a version takes a write lock on the asset's row
(SQLite `BEGIN IMMEDIATE`, PostgreSQL `SELECT … FOR UPDATE`), so concurrent writers never lose or
duplicate a version. Every version stores the sha256 of its record and of each file: `verify`
names a file or a row changed behind the library's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError

from microdrama.domain import parse_model
from microdrama.errors import InputError
from microdrama.files import sha256_file
from microdrama.ledger.manual import EvidenceStore
from microdrama.ledger.store import Ledger
from microdrama.library.models import KIND_OF, AssetVersion, StoredFile, parse_ref

metadata = MetaData()
assets = Table(
    "library_assets", metadata,
    Column("asset_id", String(80), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("latest", Integer, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("retired_at", String(40)),
    Column("retired_reason", Text),
)
versions = Table(
    "library_versions", metadata,
    Column("asset_id", String(80), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", String(40), nullable=False),
    Column("record", Text, nullable=False),
    Column("record_sha256", String(64), nullable=False),
)


@dataclass
class AssetInfo:
    asset_id: str
    kind: str
    latest: int
    retired_at: str | None
    retired_reason: str | None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class Library:
    """Asset versions on the ledger's database; their files under `root/files/` by sha256."""

    def __init__(self, ledger: Ledger, root: str | Path) -> None:
        self.ledger = ledger
        self.engine = ledger.engine
        self.root = Path(root)
        self.files = EvidenceStore(self.root / "files")  # one content-addressed idiom for evidence and assets

    # -- writing --------------------------------------------------------------------------------

    def store_file(self, path: str | Path, role: str) -> StoredFile:
        """Keep a file by content; the same bytes are stored once."""
        path = Path(path)
        ref = self.files.add(path, role)
        return StoredFile(role=role, name=path.name, sha256=ref["sha256"], bytes=path.stat().st_size)

    def add(self, fields: dict, files: list[tuple[str, str | Path]] = (), *, carry: bool = True) -> AssetVersion:
        """Record a new version of `fields['asset_id']`: the next number, never an existing one changed.
        With `carry`, what `fields` leaves out is carried from the latest version (a new file or new rights
        on the same asset); its files are kept unless a new file takes the same role."""
        asset_id = fields.get("asset_id") or ""
        kind = KIND_OF.get(asset_id.split(":")[0]) if ":" in asset_id else None
        if kind is None:
            parse_ref(asset_id)  # raises with the format
        stored = [self.store_file(p, role) for role, p in files]
        for attempt in range(8):  # a concurrent first version of the same asset: retry as the next version
            try:
                with self.engine.begin() as conn:
                    row = conn.execute(select(assets).where(assets.c.asset_id == asset_id).with_for_update()).first()
                    base: dict = {}
                    if row is not None:
                        if row.retired_at:
                            raise InputError(f"{asset_id} was retired on {row.retired_at[:10]} ({row.retired_reason}); "
                                             "give the new asset another id")
                        if carry:
                            base = self._record(conn, asset_id, row.latest).model_dump(mode="json")
                    number = 1 if row is None else row.latest + 1
                    missing = [k for k in ("name", "provenance", "rights") if not (fields.get(k) or base.get(k))]
                    if missing:
                        raise InputError(f"asset {asset_id}: a first version needs {', '.join(missing)} (on the "
                                         "command line: --name; --source with --model or --vendor; --owner, "
                                         "--licence and --territory)")
                    roles = {f.role for f in stored}
                    kept = [f for f in base.get("files", []) if f["role"] not in roles]
                    data = {**base, "note": "", **{k: v for k, v in fields.items() if v is not None},
                            "kind": kind, "version": number, "created_at": _now(),
                            "files": kept + [f.model_dump() for f in stored]}
                    version = parse_model(AssetVersion, data, source=f"asset {asset_id}@{number}")
                    if row is None:
                        conn.execute(insert(assets).values(asset_id=asset_id, kind=kind, latest=1,
                                                           created_at=version.created_at))
                    else:
                        conn.execute(update(assets).where(assets.c.asset_id == asset_id).values(latest=number))
                    conn.execute(insert(versions).values(asset_id=asset_id, version=number,
                                                         created_at=version.created_at, record=version.canonical(),
                                                         record_sha256=version.digest()))
                return version
            except IntegrityError:
                if attempt == 7:
                    raise
        raise AssertionError("unreachable")

    def retire(self, asset_id: str, reason: str) -> None:
        """No run may use the asset any more; its versions stay on record."""
        if not reason.strip():
            raise InputError("retire needs --reason (kept on record)")
        with self.engine.begin() as conn:
            done = conn.execute(update(assets).where(assets.c.asset_id == asset_id)
                                .values(retired_at=_now(), retired_reason=reason)).rowcount
        if not done:
            raise InputError(f"no asset {asset_id} in the library (`microdrama assets list`)")

    # -- reading --------------------------------------------------------------------------------

    def info(self, asset_id: str) -> AssetInfo:
        with self.engine.connect() as conn:
            row = conn.execute(select(assets).where(assets.c.asset_id == asset_id)).first()
        if row is None:
            raise InputError(f"no asset {asset_id} in the library (`microdrama assets list`; add it with "
                             "`microdrama assets add`)")
        return AssetInfo(row.asset_id, row.kind, row.latest, row.retired_at, row.retired_reason)

    def get(self, ref: str) -> AssetVersion:
        """A version by reference: 'char:lin_xia@2', or the latest for 'char:lin_xia'."""
        asset_id, number = parse_ref(ref)
        info = self.info(asset_id)
        with self.engine.connect() as conn:
            return self._record(conn, asset_id, number or info.latest)

    def _record(self, conn, asset_id: str, number: int) -> AssetVersion:
        row = conn.execute(select(versions).where(versions.c.asset_id == asset_id,
                                                  versions.c.version == number)).first()
        if row is None:
            raise InputError(f"{asset_id} has no version {number} (`microdrama assets show {asset_id}`)")
        return AssetVersion.model_validate_json(row.record)

    def catalogue(self, kind: str | None = None, tag: str | None = None) -> list[tuple[AssetInfo, AssetVersion]]:
        """Every asset with its latest version, by id."""
        latest = (versions.c.asset_id == assets.c.asset_id) & (versions.c.version == assets.c.latest)
        q = select(assets, versions.c.record).join(versions, latest).order_by(assets.c.asset_id)
        if kind:
            q = q.where(assets.c.kind == kind)
        with self.engine.connect() as conn:
            rows = list(conn.execute(q))
        out = [(AssetInfo(r.asset_id, r.kind, r.latest, r.retired_at, r.retired_reason),
                AssetVersion.model_validate_json(r.record)) for r in rows]
        return [(i, v) for i, v in out if tag is None or tag in v.tags]

    def history(self, asset_id: str | None = None) -> list[AssetVersion]:
        q = select(versions.c.record).order_by(versions.c.asset_id, versions.c.version)
        if asset_id:
            q = q.where(versions.c.asset_id == asset_id)
        with self.engine.connect() as conn:
            return [AssetVersion.model_validate_json(r.record) for r in conn.execute(q)]

    def path_of(self, f: StoredFile) -> Path:
        return self.files.path_for(f.sha256, Path(f.name).suffix)

    def verify(self, ref: str | None = None) -> list[str]:
        """Recompute every file's and record's hash; one line per file or row changed (empty: all intact)."""
        problems = []
        q = select(versions).order_by(versions.c.asset_id, versions.c.version)
        if ref:
            asset_id, number = parse_ref(ref)
            q = q.where(versions.c.asset_id == asset_id)
            if number:
                q = q.where(versions.c.version == number)
        with self.engine.connect() as conn:
            rows = list(conn.execute(q))
        for row in rows:
            version = AssetVersion.model_validate_json(row.record)
            if version.digest() != row.record_sha256:
                problems.append(f"{version.ref}: its record was edited in the database (hash no longer matches)")
            for f in version.files:
                path = self.path_of(f)
                if not path.is_file():
                    problems.append(f"{version.ref}: {f.role} file {f.name} is missing ({path})")
                elif sha256_file(path) != f.sha256:
                    problems.append(f"{version.ref}: {f.role} file {f.name} was changed (sha256 no longer "
                                    f"{f.sha256[:12]}…): {path}")
        return problems
