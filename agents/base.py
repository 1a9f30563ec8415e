"""The agent contract: typed dependencies in, a typed domain object out, attributable cost.

An agent produces the same domain objects the rule-based skills produce (a screenwriter yields a
`Screenplay`), so pipelines do not care which wrote it. Each agent names the R&D project its
cost belongs to and its own version: the agents *are* the R&D projects subsidy claims are about.
Agents talk to models only through `ChatClient`, so tests drive them with a fake model server.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from microdrama.llm.client import ChatClient

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class AgentDeps:
    client: ChatClient


class Agent(ABC, Generic[In, Out]):
    name: ClassVar[str]
    version: ClassVar[str]
    project_code: ClassVar[str]  # the R&D project this agent's cost is attributed to
    description: ClassVar[str]

    @abstractmethod
    def run(self, deps: AgentDeps, task: In) -> Out:
        """Produce the typed output; talk to the model only through `deps.client`."""
