"""The digital-asset and IP library: characters, voices, locations, props, music, fonts and corpora, each
version with its files, provenance, rights and the consent of real people, on the ledger's database."""

from microdrama.library.models import AssetVersion, Consent, Provenance, Rights, StoredFile, parse_ref
from microdrama.library.store import Library
from microdrama.library.use import RightsError, describe_rights, from_run, open_library, record_corpus, use_assets

__all__ = ["AssetVersion", "Consent", "Library", "Provenance", "Rights", "RightsError", "StoredFile",
           "describe_rights", "from_run", "open_library", "parse_ref", "record_corpus", "use_assets"]
