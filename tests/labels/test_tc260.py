import json

import pytest
from pydantic import ValidationError

from microdrama.labels.apply import DEMO_PRODUCER_CODE, LabelsConfig
from microdrama.labels.tc260 import FIELDS, AigcLabel

CODE = "0011" + "91310000MA1FL8XQ3C" + "1" + "MD01"


def test_json_has_the_appendix_e_shape_and_order():
    text = AigcLabel(content_producer=CODE, produce_id="run-1-episode", reserved_code1="sha256-ab").to_json()
    assert text.startswith('{"AIGC":{"Label":"1","ContentProducer":"' + CODE)
    assert list(json.loads(text)["AIGC"]) == list(FIELDS)
    assert " " not in text


def test_non_ascii_producer_names_are_rejected_with_a_fix():
    with pytest.raises(ValidationError) as exc:
        LabelsConfig(producer_code="上海某某影视有限公司")
    assert "printable ASCII" in str(exc.value) and "Use a code" in str(exc.value)


def test_spaces_and_bare_quotes_are_rejected_but_escaped_quotes_pass():
    with pytest.raises(ValidationError, match="printable ASCII"):
        AigcLabel(content_producer=CODE, produce_id="run 1")
    with pytest.raises(ValidationError, match="printable ASCII"):
        AigcLabel(content_producer=CODE, produce_id='a"b')
    assert AigcLabel(content_producer=CODE, produce_id='a\\"b').produce_id == 'a\\"b'


def test_provider_code_format_is_enforced():
    with pytest.raises(ValidationError, match="27-character TC260 provider code"):
        AigcLabel(content_producer="0011ABC", produce_id="x")
    assert len(DEMO_PRODUCER_CODE) == 27 and AigcLabel(content_producer=DEMO_PRODUCER_CODE, produce_id="x")


def test_missing_fields_are_named():
    with pytest.raises(ValueError, match="lacks field"):
        AigcLabel.from_json('{"AIGC":{"Label":"1"}}')
    with pytest.raises(ValueError, match='no top-level "AIGC"'):
        AigcLabel.from_json('{"label":"1"}')
