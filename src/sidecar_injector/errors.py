"""The one error root of sidecar-injector, and where an error happened.

```
InjectorError                       every error a user can cause or see
 +-- ConfigError       (config)      a config that does not load or validate
 +-- DecisionError     (decision)    an annotation or selector that cannot be evaluated
 +-- RenderError       (render)      a template that fails for this pod, or renders bad YAML
 +-- MergeError        (merge)       a rendered spec that does not merge into the pod
 +-- ReviewError       (admission)   an AdmissionReview that cannot be decoded
 +-- WorkloadError     (workloads)   a manifest that kube-inject cannot read
```
Each subclass lives beside the code that raises it. `str(err)` reads "where: what; what to do".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where something went wrong; every part is optional."""

    source: str | None = None
    line: int | None = None
    col: int | None = None
    document: int | None = None
    pointer: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.source is not None:
            where = self.source
            if self.line is not None:
                where += f":{self.line}"
                if self.col is not None:
                    where += f":{self.col}"
            parts.append(where)
        if self.document is not None:
            parts.append(f"document {self.document}")
        if self.pointer is not None:
            parts.append(f"at {self.pointer or '/'}")
        return ", ".join(parts)


class InjectorError(Exception):
    """Root of every error sidecar-injector reports to a user."""

    def __init__(
        self, message: str, *, location: Location | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.location is not None and str(self.location):
            text = f"{self.location}: {text}"
        if self.hint:
            text = f"{text}; {self.hint}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


def yaml_problem(err: Exception) -> str:
    """PyYAML's several-line message as one: the problem, and its line and column in the text."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if mark is None:
        return str(problem)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


EXCERPT_LIMIT = 200


def excerpt(value: str, limit: int = EXCERPT_LIMIT) -> str:
    """A user's value as a message quotes it: cut after `limit` characters, saying how long it was,
    so a 200 KB annotation cannot make a 600 KB answer and log line."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value.encode('utf-8', 'replace'))} bytes)"
