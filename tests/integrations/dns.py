"""A scripted resolver for ``WEBHOOKS_RESOLVER`` (integrations/destinations.py): each name answers what the
test says, in turn, and every question is recorded. The ``dns`` fixture points the setting here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ScriptedDNS:
    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def script(self, host: str, *answers: list[str]) -> None:
        """``host`` answers each of ``answers`` in turn, then the last one for ever."""
        self.answers[host] = list(answers)

    def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        queue = self.answers.get(host)
        if not queue:
            raise OSError(f"no such host in the test's DNS: {host}")
        return queue.pop(0) if len(queue) > 1 else queue[0]


DNS = ScriptedDNS()


def resolve(host: str, port: int) -> list[str]:
    return DNS.resolve(host, port)
