"""Model APIs for pictures, motion and voices: one job client (`jobs.py`) and one adapter per provider.

Adapters are found by name (`CloudProvider.adapter`); each file states the API documents its shapes
come from and the date they were read.
"""

from __future__ import annotations

from importlib import import_module

from microdrama.cloud.jobs import Adapter, CloudProvider
from microdrama.errors import InputError

ADAPTERS = {
    "dashscope": "microdrama.cloud.dashscope:DashScopeAdapter",
    "ark": "microdrama.cloud.ark:ArkAdapter",
    "openai": "microdrama.cloud.openai_media:OpenAIMediaAdapter",
    "kling": "microdrama.cloud.kling:KlingAdapter",
    "minimax": "microdrama.cloud.minimax:MiniMaxAdapter",
}


def adapter_for(provider: CloudProvider) -> Adapter:
    spec = ADAPTERS.get(provider.adapter)
    if spec is None:
        raise InputError(f"unknown provider adapter '{provider.adapter}'; choose one of {', '.join(ADAPTERS)}")
    module, _, name = spec.partition(":")
    return getattr(import_module(module), name)()
