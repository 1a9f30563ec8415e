"""C2PA content credentials via c2pa-python: a signed "created by a trained algorithm" claim.

The manifest carries a `c2pa.actions` assertion whose `c2pa.created` action has the IPTC digital
source type `trainedAlgorithmicMedia`. It is signed with the studio's certificate chain and key
(PEM files named in the config). The TC260 metadata is written first: the signature binds the
file's bytes, so any later change — including stripping the TC260 tag — invalidates it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

from pydantic import Field

from microdrama import __version__
from microdrama.domain import Strict
from microdrama.errors import InputError, RenderError
from microdrama.files import atomic_path

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".wav": "audio/wav",
        ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


class SigningConfig(Strict):
    cert_chain: Path = Field(description="PEM file: the signing certificate followed by its CA chain")
    private_key: Path = Field(description="PEM file with the signing key (keep it out of version control)")
    algorithm: Literal["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"] = "es256"
    trust_anchors: Path | None = Field(None, description="PEM with the root(s) to trust when checking")
    timestamp_url: str | None = Field(None, description="RFC 3161 time-stamp server, if the studio has one")


def _mime(path: Path) -> str:
    if path.suffix.lower() not in MIME:
        raise InputError(f"{path}: C2PA signing supports {', '.join(sorted(MIME))}")
    return MIME[path.suffix.lower()]


def manifest_for(title: str, producer: str) -> dict:
    return {
        "claim_generator_info": [{"name": "microdrama", "version": __version__}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                 "softwareAgent": {"name": "microdrama", "version": __version__},
                 "parameters": {"producer": producer}},
            ]}},
        ],
    }


def sign_file(path: Path, signing: SigningConfig, title: str, producer: str) -> None:
    """Embed a signed manifest in place (written to a temp file, then renamed)."""
    import c2pa

    for f in (signing.cert_chain, signing.private_key):
        if not Path(f).is_file():
            raise InputError(f"signing: {f} does not exist; set labels.signing.cert_chain/private_key in the config")
    alg = getattr(c2pa.C2paSigningAlg, signing.algorithm.upper())
    info = c2pa.C2paSignerInfo(alg, Path(signing.cert_chain).read_bytes(), Path(signing.private_key).read_bytes(),
                               signing.timestamp_url.encode() if signing.timestamp_url else None)
    try:
        with atomic_path(path) as tmp:
            signer = c2pa.Signer.from_info(info)
            builder = c2pa.Builder(manifest_for(title, producer))
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                builder.sign(signer, _mime(path), src, dst)
    except c2pa.C2paError as exc:
        raise RenderError(f"C2PA signing of {path.name} failed: {exc}") from None


def read_credentials(path: Path, trust_anchors: Path | None = None) -> tuple[str | None, dict | None]:
    """(validation state, active manifest): state is 'Trusted', 'Valid', 'Invalid' or None if absent."""
    import c2pa

    settings: dict = {"verify": {"ocsp_fetch": False, "remote_manifest_fetch": False}}
    if trust_anchors:
        settings["trust"] = {"trust_anchors": Path(trust_anchors).read_text(encoding="utf-8")}
        settings["verify"]["verify_trust"] = True
    try:
        context = c2pa.Context.from_dict(settings)
        with open(path, "rb") as f:
            reader = c2pa.Reader(_mime(path), io.BytesIO(f.read()), context=context)
            return reader.get_validation_state(), reader.get_active_manifest()
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc) or "NotFound" in str(exc):
            return None, None
        return "Invalid", {"error": str(exc)}


def is_ai_created(manifest: dict | None) -> bool:
    """True when the manifest declares a c2pa.created action from trained algorithmic media."""
    if not manifest:
        return False
    for assertion in manifest.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                if action.get("action") == "c2pa.created" and action.get("digitalSourceType") == TRAINED_ALGORITHMIC_MEDIA:
                    return True
    return False
