"""The R&D cost ledger: usage in, priced and hash-chained entries out, claim packs for subsidies."""

from microdrama.ledger.store import CATEGORIES, Entry, EntryIn, Ledger, VerifyResult

__all__ = ["CATEGORIES", "Entry", "EntryIn", "Ledger", "VerifyResult"]
