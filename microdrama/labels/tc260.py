"""The implicit AIGC label of GB 45438-2025 Appendix E (the "TC260" metadata).

    {"AIGC":{"Label":"1","ContentProducer":"…","ProduceID":"…","ReservedCode1":"…",
             "ContentPropagator":"…","PropagateID":"…","ReservedCode2":"…"}}

Values may only use printable ASCII without space, '"' or '\\' (an escaped '\\"' is allowed), so
producer names are codes, never Chinese text. The producer code follows the TC260 practice guide:
27 characters = "00" + "11" + an 18-character unified social credit code + service type
(1 generation, 2 distribution) + a 4-character model/app code.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator", "PropagateID", "ReservedCode2")
_ALLOWED = re.compile(r'^(?:[\x21\x23-\x5B\x5D-\x7E]|\\")*$')
PROVIDER_CODE = re.compile(r"^0011[0-9A-Z]{18}[12][0-9A-Za-z]{4}$")


def check_value(name: str, value: str) -> str:
    if not _ALLOWED.match(value):
        bad = sorted({ch for ch in value if not re.match(r'[\x21\x23-\x5B\x5D-\x7E]', ch)})
        raise ValueError(
            f"{name} may only contain printable ASCII without spaces, quotes or backslashes "
            f"(GB 45438-2025 Appendix E); found {''.join(bad)!r}. Use a code, e.g. your provider code, not a name."
        )
    return value


class AigcLabel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    label: str = Field("1", alias="Label", pattern="^[123]$", description="1 = AI-generated, 2 = may be, 3 = suspected")
    content_producer: str = Field(alias="ContentProducer", description="27-character provider code of the producer")
    produce_id: str = Field(alias="ProduceID", min_length=1, description="the producer's content ID")
    reserved_code1: str = Field("", alias="ReservedCode1", description="integrity: sha256 of the content")
    content_propagator: str = Field("", alias="ContentPropagator", description="provider code of the distributor")
    propagate_id: str = Field("", alias="PropagateID")
    reserved_code2: str = Field("", alias="ReservedCode2")

    @field_validator("content_producer")
    @classmethod
    def _producer_code(cls, v: str) -> str:
        check_value("ContentProducer", v)
        if not PROVIDER_CODE.match(v):
            raise ValueError(
                f"ContentProducer {v!r} is not a 27-character TC260 provider code: '0011' + 18-character unified "
                "social credit code + service type (1 or 2) + 4-character model/app code"
            )
        return v

    @field_validator("produce_id", "reserved_code1", "content_propagator", "propagate_id", "reserved_code2")
    @classmethod
    def _charset(cls, v: str, info) -> str:
        return check_value(info.field_name, v)

    def to_json(self) -> str:
        """Compact JSON in the order of Appendix E."""
        return json.dumps({"AIGC": self.model_dump(by_alias=True)}, separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str) -> "AigcLabel":
        data = json.loads(text)
        if not isinstance(data, dict) or "AIGC" not in data:
            raise ValueError('not a TC260 label: the JSON has no top-level "AIGC" object')
        missing = [f for f in FIELDS if f not in data["AIGC"]]
        if missing:
            raise ValueError(f"TC260 label lacks field(s): {', '.join(missing)}")
        return cls.model_validate(data["AIGC"])
