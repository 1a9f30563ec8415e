"""Apply the implicit labels (and optionally C2PA credentials) to a published file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from pydantic import Field, ValidationError, field_validator

from microdrama.domain import Strict
from microdrama.errors import InputError, format_validation_error
from microdrama.labels.carriers import content_hash, write_label
from microdrama.labels.credentials import SigningConfig, sign_file
from microdrama.labels.tc260 import PROVIDER_CODE, AigcLabel, check_value

# A well-formed placeholder: "0011" + an all-zero credit code + service type 1 + "DEMO".
DEMO_PRODUCER_CODE = "0011" + "0" * 18 + "1" + "DEMO"


class LabelsConfig(Strict):
    enabled: bool = Field(True, description="label every published file (visible mark is `mark`)")
    producer_code: str = Field(DEMO_PRODUCER_CODE, description="your 27-character TC260 provider code")
    propagator_code: str = Field("", description="the distributing platform's provider code, if known")
    signing: SigningConfig | None = Field(None, description="studio certificate for C2PA; none = no credentials")
    require_c2pa: bool = Field(False, description="fail the label check when a file has no valid C2PA manifest")

    @field_validator("producer_code", "propagator_code")
    @classmethod
    def _code(cls, value: str, info) -> str:
        check_value(info.field_name, value)
        if value and not PROVIDER_CODE.match(value):
            raise ValueError(f"{value!r} is not a 27-character TC260 provider code: '0011' + 18-character unified "
                             "social credit code + service type (1 generation, 2 distribution) + 4-character model code")
        return value


def label_file(path: Path, config: LabelsConfig, produce_id: str, title: str = "") -> AigcLabel:
    """TC260 metadata first (with the content hash), then the C2PA signature over the result."""
    try:
        label = AigcLabel(content_producer=config.producer_code, produce_id=produce_id,
                          reserved_code1=f"sha256-{content_hash(path)}", content_propagator=config.propagator_code,
                          reserved_code2="c2pa" if config.signing else "")
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, AigcLabel, f"the AIGC label for {path.name}")) from None
    write_label(path, label.to_json())
    if config.signing:
        sign_file(path, config.signing, title or path.name, config.producer_code)
    return label


def label_and_check(paths: list[Path], config: LabelsConfig, produce_id: Callable[[Path], str], title: str = "",
                    visible: bool = True) -> list:
    """Label every file, then read each back (`check_file`); the reports in the order of `paths`. Files are
    independent and most of the work is ffmpeg and decoding, so they go in parallel; a C2PA signer is one
    object, so signed files go one at a time."""
    from microdrama.labels.check import check_file

    trust = config.signing.trust_anchors if config.signing else None

    def one(path: Path):
        label_file(path, config, produce_id=produce_id(path), title=title)
        return check_file(path, require_c2pa=config.require_c2pa, visible=visible, trust_anchors=trust)

    with ThreadPoolExecutor(max_workers=1 if config.signing else 4, thread_name_prefix="microdrama-labels") as pool:
        return list(pool.map(one, paths))
