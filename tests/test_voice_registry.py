"""The voice-model registry: every dubbing skill's models with their licences on file, the record a dubbing call
gets, and a commercial production refused a model whose licence forbids commercial use."""

from pathlib import Path

import pytest
import yaml

from microdrama.config import ProjectConfig
from microdrama.errors import InputError
from microdrama.registry import build_default_registry
from microdrama.voice_registry import VoiceRegistry, check_voice_licences, voice_model_record

REGISTRY = VoiceRegistry.load()
DASHSCOPE = {"adapter": "dashscope", "base_url": "https://dashscope.aliyuncs.com/api/v1", "api_key_env": "DS_KEY"}
OPENAI = {"adapter": "openai", "base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}


def test_every_built_in_dubbing_skill_runs_registered_models_with_their_licences_sourced():
    dubbing = build_default_registry(include_entry_points=False).names("dubbing")
    assert {m.skill for m in REGISTRY.models if m.skill} == set(dubbing)
    for m in REGISTRY.models:
        assert m.code_licence and m.weights_licence and m.sources, m.id
        assert all(s.url.startswith("https://") and s.checked.year >= 2026 for s in m.sources), m.id


def test_the_licences_that_fence_in_commercial_use_are_recorded_as_such():
    terms = {m.id: m for m in REGISTRY.models}
    assert {i for i, m in terms.items() if m.commercial == "forbidden"} == {"fish-speech", "f5-tts", "chattts"}
    assert all(terms[i].skill is None for i in ("fish-speech", "f5-tts", "chattts", "indextts2"))  # not wired in
    assert terms["f5-tts"].code_licence == "MIT" and terms["f5-tts"].weights_licence.startswith("CC-BY-NC")
    assert terms["chattts"].code_licence == "AGPL-3.0-or-later"
    index = terms["indextts2"]
    assert index.commercial == "conditional" and "100 million monthly active users" in index.limits[0]
    assert "RMB 1 billion" in index.limits[0]
    espeak = terms["espeak-ng"]
    assert espeak.code_licence == "GPL-3.0-or-later" and "espeakng-loader" in espeak.limits[0]
    assert "ctypes" in espeak.limits[0]
    assert terms["piper-en_us-joe-medium"].commercial == "unclear" and "lessac" in terms["piper-en_us-joe-medium"].limits[0]
    for cosy in ("fun-cosyvoice3-0.5b-2512", "cosyvoice2-0.5b"):
        assert terms[cosy].code_licence.startswith("Apache-2.0") and terms[cosy].commercial == "allowed"
        assert terms[cosy].hub_id and terms[cosy].modelscope_id and terms[cosy].local_path


@pytest.mark.parametrize("skill, options, model", [
    ("dubbing-espeak", None, "espeak-ng"),
    ("dubbing-piper", {}, "piper-en_us-joe-medium"),
    ("dubbing-piper", {"model": "voices/en_US-lessac-medium.onnx"}, "piper-custom"),
    ("dubbing-kokoro", {"voices": "models/kokoro/voices-v1.0.bin"}, "kokoro-82m-v1.0"),
    ("dubbing-cosyvoice", {}, "fun-cosyvoice3-0.5b-2512"),
    ("dubbing-cosyvoice", {"model": "cosyvoice2-0.5b"}, "cosyvoice2-0.5b"),
    ("dubbing-cloud", {"provider": DASHSCOPE, "model": "cosyvoice-v3-flash"}, "dashscope-cosyvoice"),
    ("dubbing-cloud", {"provider": DASHSCOPE, "model": "qwen-tts-latest"}, "dashscope-qwen-tts"),
    ("dubbing-cloud", {"provider": OPENAI, "model": "gpt-4o-mini-tts"}, "openai-tts"),
])
def test_a_dubbing_call_is_recorded_with_the_model_its_options_pick(skill, options, model):
    record = voice_model_record(skill, options)
    assert record["model"] == model and record["skill"] == skill
    assert {"code_licence", "weights_licence", "commercial", "limits", "sources", "weights_from"} <= set(record)


def test_a_model_outside_the_registry_is_unclear_not_silently_fine():
    record = voice_model_record("dubbing-somebodys-pack", {})
    assert record["model"] is None and record["commercial"] == "unclear" and "voices.yaml" in record["limits"][0]
    sambert = voice_model_record("dubbing-cloud", {"provider": DASHSCOPE, "model": "sambert-zhichu-v1"})
    assert sambert["model"] is None  # a DashScope voice model nobody has recorded yet


def forbidding(tmp_path: Path) -> VoiceRegistry:
    """The bundled registry with espeak-ng's entry turned non-commercial."""
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "assets/models/voices.yaml").read_text())
    espeak = next(m for m in data["models"] if m["id"] == "espeak-ng")
    espeak.update(weights_licence="CC-BY-NC-4.0", commercial="forbidden")
    path = tmp_path / "voices.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return VoiceRegistry.load(path)


def test_a_commercial_production_is_refused_a_non_commercial_voice_naming_model_and_licence(tmp_path):
    registry = forbidding(tmp_path)
    with pytest.raises(InputError) as caught:
        check_voice_licences(ProjectConfig(), registry=registry)
    message = str(caught.value)
    assert "eSpeak NG 1.52" in message and "CC-BY-NC-4.0" in message and "commercial: false" in message
    notes = check_voice_licences(ProjectConfig(commercial=False), registry=registry)
    assert len(notes) == 1 and "commercial use forbidden" in notes[0]


def test_a_characters_own_engine_is_checked_and_limits_come_back_as_notes(tmp_path):
    assert check_voice_licences(ProjectConfig()) == []  # espeak-ng: GPL code, commercial use allowed
    notes = check_voice_licences(ProjectConfig(), engines=["dubbing-piper", "dubbing-kokoro"])
    assert len(notes) == 1 and notes[0].startswith("Piper en_US-joe-medium") and "unclear" in notes[0]
    with pytest.raises(InputError, match="eSpeak NG"):  # the narrator speaks with espeak-ng
        check_voice_licences(ProjectConfig(stages={"dubbing": "dubbing-kokoro"},
                                           narrator_voice={"gender": "male", "engine": "dubbing-espeak"}),
                             registry=forbidding(tmp_path))


def test_the_commercial_flag_defaults_on_and_reads_from_a_config_file(tmp_path):
    assert ProjectConfig().commercial is True
    path = tmp_path / "config.yaml"
    path.write_text("commercial: false\n", encoding="utf-8")
    assert ProjectConfig.load(path).commercial is False


@pytest.mark.parametrize("change, error", [
    ({"commercial": "conditional", "limits": []}, "list the limits"),
    ({"commercial": "maybe"}, "commercial"),
    ({"sources": [{"url": "http://example.com", "checked": "2026-11-27", "via": "read"}]}, "url"),
])
def test_an_entry_without_its_limits_or_a_proper_source_is_refused(tmp_path, change, error):
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "assets/models/voices.yaml").read_text())
    data["models"][0].update(change)
    path = tmp_path / "voices.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InputError, match=error):
        VoiceRegistry.load(path)


def test_a_run_checks_its_voices_licences_before_any_paid_call(tmp_path, monkeypatch, screenplay):
    from microdrama.run import Run

    monkeypatch.setattr(VoiceRegistry, "load", classmethod(lambda cls, path=None: forbidding(tmp_path)
                                                           if path is None else _load(path)))
    run = Run(ProjectConfig(project_code="RD-V"), tmp_path / "out", "ep1", 1, echo=lambda _: None)
    with pytest.raises(InputError, match="may not be used commercially"):
        run.quote_first(screenplay)
    assert run.quote is None  # refused before the quote, so before any call
    said = []
    Run(ProjectConfig(project_code="RD-V", commercial=False), tmp_path / "out", "ep1", 1,
        echo=said.append).quote_first(screenplay)
    assert any("commercial use forbidden" in s for s in said)


_load = VoiceRegistry.load.__func__.__get__(VoiceRegistry)
