"""Bundled data: screenplay genre templates and demo briefs."""

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
