"""The injector's configuration: injection config (modern or legacy 1.0), values and mesh config.

Users write it as Istio's `istio-sidecar-injector` ConfigMap (`config` and `values` keys) and the
`istio` ConfigMap (`mesh` key). It is validated once on load and then held as immutable values,
so the admission hot path never re-parses or re-validates anything.

Each of the three inputs may be the bare text (what istiod reads from the key) or a whole
ConfigMap YAML document holding it under `data`. The injection config's format is recognised
from its keys: `templates` (named templates, Istio 1.9+) is modern; a single `template` is
legacy, rendered with `[[ ]]` when its text uses them (Istio 1.0-1.1) and `{{ }}` otherwise.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from sidecar_injector import boundedyaml, gotemplate, istio_funcs
from sidecar_injector.errors import InjectorError, Location, excerpt
from sidecar_injector.meshconfig import MeshConfig, apply_mesh, default_mesh
from sidecar_injector.meshschema import FieldError

JSON = Any
"""A JSON value as `orjson`/`yaml.safe_load` give it: dict, list, str, int, float, bool, None."""

Policy = Literal["enabled", "disabled"]
Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
Format = Literal["modern", "legacy"]
Delims = tuple[str, str]
Template = gotemplate.Template

MODERN_DELIMS: Delims = ("{{", "}}")
LEGACY_DELIMS: Delims = ("[[", "]]")
TEMPLATE_NAME = "inject"


class ConfigError(InjectorError):
    """A config that does not load or validate: says which input, which key, and what to do."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `matchExpressions` entry of a Kubernetes label selector."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes `metav1.LabelSelector`; an empty selector matches everything."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[Requirement, ...] = ()


@dataclass(frozen=True, slots=True)
class InjectionConfig:
    """The `config` key: policy, templates (parsed once) and selectors."""

    format: Format
    policy: Policy
    templates: Mapping[str, Template]
    template_texts: Mapping[str, str]
    default_templates: tuple[str, ...] = ("sidecar",)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    never_inject_selector: tuple[LabelSelector, ...] = ()
    always_inject_selector: tuple[LabelSelector, ...] = ()
    injected_annotations: Mapping[str, str] = field(default_factory=dict)
    delims: Delims = MODERN_DELIMS
    warnings: tuple[str, ...] = ()
    """Keys that load but have no effect (Istio ignores them silently; we say so)."""

    @property
    def deterministic(self) -> bool:
        """Whether a pod always renders the same way: no template reads the clock or randomness."""
        return all(template.deterministic for template in self.templates.values())


@dataclass(frozen=True, slots=True)
class Config:
    """Everything one injection reads; swapped atomically as a whole on reload."""

    injection: InjectionConfig
    values: Mapping[str, JSON]
    mesh: MeshConfig
    revision: str = ""
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    recipe: Recipe | None = field(default=None, repr=False, compare=False)
    """The texts it was loaded from: how another process (an injection engine) loads it too."""


@dataclass(frozen=True, slots=True)
class Sources:
    """Names of the three inputs for error messages (file paths, or ConfigMap keys)."""

    config: str = "config"
    values: str = "values"
    mesh: str = "mesh"


@dataclass(frozen=True, slots=True)
class Recipe:
    """The arguments of one `load`, as JSON: texts rather than paths, so a file that changes in
    between cannot make two processes serve different configs."""

    config: str | None
    values: str | None
    mesh: str | None
    sources: Sources
    revision: str
    env: Mapping[str, str]
    delims: Delims | None

    def to_json(self) -> dict[str, JSON]:
        return {**dataclasses.asdict(self), "sources": dataclasses.astuple(self.sources)}

    @classmethod
    def from_json(cls, raw: Mapping[str, JSON]) -> Recipe:
        delims = raw["delims"]
        return cls(
            config=raw["config"],
            values=raw["values"],
            mesh=raw["mesh"],
            sources=Sources(*raw["sources"]),
            revision=raw["revision"],
            env=dict(raw["env"]),
            delims=(delims[0], delims[1]) if delims else None,
        )

    def load(self) -> Config:
        return load(
            config=self.config,
            values=self.values,
            mesh=self.mesh,
            sources=self.sources,
            revision=self.revision,
            env=self.env,
            delims=self.delims,
        )


class _Requirement(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    key: str
    operator: Operator
    values: list[str] | None = None

    @model_validator(mode="after")
    def _values_fit_operator(self) -> _Requirement:
        """Kubernetes rejects these selectors; Istio would only log and skip them per pod."""
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs a non-empty `values` list")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no `values`")
        return self


class _Selector(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    matchLabels: dict[str, str] | None = None
    matchExpressions: list[_Requirement] | None = None


class _InjectionModel(BaseModel):
    """Istio's `inject.Config`; unknown keys are ignored as istiod ignores them."""

    model_config = ConfigDict(extra="ignore", strict=True)
    policy: Policy | None = None
    template: str | None = None
    templates: dict[str, str] | None = None
    defaultTemplates: list[str] | None = None
    aliases: dict[str, list[str]] | None = None
    neverInjectSelector: list[_Selector] | None = None
    alwaysInjectSelector: list[_Selector] | None = None
    injectedAnnotations: dict[str, str] | None = None


def load(
    *,
    config: str | None = None,
    values: str | None = None,
    mesh: str | None = None,
    sources: Sources | None = None,
    revision: str = "",
    env: Mapping[str, str] | None = None,
    delims: Delims | None = None,
) -> Config:
    """Load and validate a whole Config from texts; a missing input takes the embedded default."""
    src = sources or Sources()
    defaults = _default_texts()
    injection = parse_injection(
        config if config is not None else defaults["config"], source=src.config, delims=delims
    )
    return Config(
        injection=injection,
        values=parse_values(
            values if values is not None else defaults["values"], source=src.values
        ),
        mesh=parse_mesh(mesh if mesh is not None else defaults["mesh"], source=src.mesh),
        revision=revision,
        env=dict(env or {}),
        recipe=Recipe(config, values, mesh, src, revision, dict(env or {}), delims),
    )


def load_files(
    *,
    config: Path | None,
    values: Path | None,
    mesh: Path | None,
    revision: str = "",
    env: Mapping[str, str] | None = None,
    delims: Delims | None = None,
) -> Config:
    """Load from files (any may be None: the embedded default is used for it)."""
    return load(
        config=_read(config),
        values=_read(values),
        mesh=_read(mesh),
        sources=Sources(
            config=str(config) if config else "default config",
            values=str(values) if values else "default values",
            mesh=str(mesh) if mesh else "default mesh",
        ),
        revision=revision,
        env=env,
        delims=delims,
    )


def load_default(*, revision: str = "", env: Mapping[str, str] | None = None) -> Config:
    """The embedded default: policy enabled, our own `sidecar` template in Istio's shape."""
    return load(
        sources=Sources("defaults/config.yaml", "defaults/values.yaml", "defaults/mesh.yaml"),
        revision=revision,
        env=env,
    )


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(
            f"cannot read {path}: {err.strerror or err}",
            location=Location(source=str(path)),
            hint="check the path and its permissions",
        ) from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text", location=Location(source=str(path))) from err


def _default_texts() -> dict[str, str]:
    folder = resources.files("sidecar_injector") / "defaults"
    return {
        "config": (folder / "config.yaml").read_text(encoding="utf-8"),
        "values": (folder / "values.yaml").read_text(encoding="utf-8"),
        "mesh": (folder / "mesh.yaml").read_text(encoding="utf-8"),
    }


def document(text: str, *, key: str, source: str) -> JSON:
    """The parsed content of one input: bare YAML/JSON, or `data.<key>` of a ConfigMap in it."""
    docs = [d for d in _yaml_all(text, source=source) if d is not None]
    maps = [d for d in docs if isinstance(d, Mapping) and d.get("kind") == "ConfigMap"]
    if not maps:
        if len(docs) > 1:
            raise ConfigError(
                f"holds {len(docs)} YAML documents and none is a ConfigMap",
                location=Location(source=source),
                hint=f"give one document, or a ConfigMap with data.{key}",
            )
        return docs[0] if docs else None
    for index, cm in enumerate(maps):
        data = cm.get("data")
        if isinstance(data, Mapping) and key in data:
            inner = data[key]
            if not isinstance(inner, str):
                raise ConfigError(
                    f"data.{key} must be a string holding YAML, not {type(inner).__name__}",
                    location=Location(source=source, document=index),
                    hint="write it as a block scalar: `" + key + ": |`",
                )
            return _yaml_one(inner, source=f"{source} data.{key}")
    raise ConfigError(
        f"no ConfigMap here has data.{key}",
        location=Location(source=source),
        hint=f"the {key!r} key belongs in ConfigMap "
        + ("istio" if key == "mesh" else "istio-sidecar-injector"),
    )


def _yaml_all(text: str, *, source: str) -> list[JSON]:
    try:
        return boundedyaml.load_all(text, limits=boundedyaml.CONFIG, source=source)
    except (yaml.YAMLError, boundedyaml.YAMLLimitError) as err:
        raise _yaml_error(err, source) from err


def _yaml_one(text: str, *, source: str) -> JSON:
    try:
        if text.lstrip().startswith(("{", "[")):
            boundedyaml.check_size(text, limits=boundedyaml.CONFIG, source=source)
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
        return boundedyaml.load(text, limits=boundedyaml.CONFIG, source=source)
    except (yaml.YAMLError, boundedyaml.YAMLLimitError) as err:
        raise _yaml_error(err, source) from err


def _yaml_error(err: yaml.YAMLError | boundedyaml.YAMLLimitError, source: str) -> ConfigError:
    if isinstance(err, boundedyaml.YAMLLimitError):
        return ConfigError(err.message, location=err.location, hint=err.hint)
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    return ConfigError(
        f"not valid YAML: {problem}",
        location=Location(
            source=source,
            line=mark.line + 1 if mark is not None else None,
            col=mark.column + 1 if mark is not None else None,
        ),
        hint="fix the YAML syntax at that place",
    )


def parse_injection(
    text: str, *, source: str = "config", delims: Delims | None = None
) -> InjectionConfig:
    """Validate the `config` key and parse its templates once."""
    raw = document(text, key="config", source=source)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"must be a mapping with policy and templates, not {type(raw).__name__}",
            location=Location(source=source),
        )
    try:
        model = _InjectionModel.model_validate(raw)
    except ValidationError as err:
        raise _validation_error(err, source) from err
    if model.templates is not None:
        loaded = _modern(model, source=source, delims=delims or MODERN_DELIMS)
    elif model.template is not None:
        loaded = _legacy(model, source=source, delims=delims)
    else:
        raise _no_templates(source)
    return dataclasses.replace(loaded, warnings=_ignored_keys(raw, loaded.format, source=source))


_MODERN_ONLY = ("defaultTemplates", "aliases")


def _ignored_keys(raw: Mapping[str, JSON], form: Format, *, source: str) -> tuple[str, ...]:
    """Unknown keys, and the modern-only keys of a legacy config: typos that would be silent."""
    known = set(_InjectionModel.model_fields)
    warnings = [
        f"{source}: unknown key {key!r} is ignored; known keys are {', '.join(sorted(known))}"
        for key in raw
        if key not in known
    ]
    if form == "legacy":
        warnings += [
            f"{source}: {key!r} is ignored in the legacy format (it needs `templates:`)"
            for key in _MODERN_ONLY
            if raw.get(key)
        ]
    return tuple(warnings)


def _no_templates(source: str) -> ConfigError:
    return ConfigError(
        "has no templates: neither `templates` (Istio 1.9+) nor `template` (Istio 1.0-1.8)",
        location=Location(source=source),
        hint="add `templates: {sidecar: ...}`, or leave the config out to use the embedded default",
    )


def _modern(model: _InjectionModel, *, source: str, delims: Delims) -> InjectionConfig:
    texts = dict(model.templates or {})
    if not texts:
        raise ConfigError(
            "templates: is empty, so no pod could be injected",
            location=Location(source=source),
            hint="add at least a `sidecar` template",
        )
    defaults = tuple(model.defaultTemplates or ("sidecar",))
    aliases = {name: tuple(targets) for name, targets in (model.aliases or {}).items()}
    for name, targets in aliases.items():
        for target in targets:
            _known(target, texts, where=f"aliases.{name}", source=source)
    for index, name in enumerate(defaults):
        if name not in aliases:
            _known(name, texts, where=f"defaultTemplates[{index}]", source=source)
    return InjectionConfig(
        format="modern",
        policy=_policy(model),
        templates={
            name: parse_template(text, where=f"templates.{name}", source=source, delims=delims)
            for name, text in texts.items()
        },
        template_texts=texts,
        default_templates=defaults,
        aliases=aliases,
        never_inject_selector=_selectors(model.neverInjectSelector),
        always_inject_selector=_selectors(model.alwaysInjectSelector),
        injected_annotations=dict(model.injectedAnnotations or {}),
        delims=delims,
    )


def _legacy(model: _InjectionModel, *, source: str, delims: Delims | None) -> InjectionConfig:
    text = model.template or ""
    if not text.strip():
        raise ConfigError(
            "template: is empty, so no pod could be injected",
            location=Location(source=source),
            hint="write the sidecar template, or use the modern `templates:` form",
        )
    chosen = delims or (LEGACY_DELIMS if "[[" in text else MODERN_DELIMS)
    return InjectionConfig(
        format="legacy",
        policy=_policy(model),
        templates={
            "sidecar": parse_template(
                text, where="template", source=source, delims=chosen, form="legacy"
            )
        },
        template_texts={"sidecar": text},
        never_inject_selector=_selectors(model.neverInjectSelector),
        always_inject_selector=_selectors(model.alwaysInjectSelector),
        injected_annotations=dict(model.injectedAnnotations or {}),
        delims=chosen,
    )


def _policy(model: _InjectionModel) -> Policy:
    """Istio injects nothing by policy when `policy` is missing (it logs an illegal value)."""
    return model.policy or "disabled"


def _known(name: str, texts: Mapping[str, str], *, where: str, source: str) -> None:
    if name not in texts:
        raise ConfigError(
            f"{where}: template {name!r} is not defined; have {', '.join(sorted(texts))}",
            location=Location(source=source),
            hint="define it under `templates:` or fix the name",
        )


def _selectors(models: list[_Selector] | None) -> tuple[LabelSelector, ...]:
    return tuple(
        LabelSelector(
            match_labels=dict(m.matchLabels or {}),
            match_expressions=tuple(
                Requirement(r.key, r.operator, tuple(r.values or ()))
                for r in m.matchExpressions or ()
            ),
        )
        for m in models or ()
    )


def parse_template(
    text: str, *, where: str, source: str, delims: Delims, form: Format = "modern"
) -> Template:
    """Parse once with the Go engine; a syntax error names the key and the template's line."""
    try:
        return PARSED_TEMPLATES.parse(text, delims, form)
    except gotemplate.ParseError as err:
        line, col = _line_col(err)
        at = where if line is None else f"{where}:{line}" + ("" if col is None else f":{col}")
        raise ConfigError(
            f"{at}: {err}",
            location=Location(source=source),
            hint="fix the template; lines count from the start of the template text",
        ) from err


class ParsedTemplates:
    """Parsed templates are immutable, so a reload or `/validate` with unchanged text reuses them.

    The cache is bounded by the total length of the texts it keeps (a parsed template holds
    some tens of times its text), not by a count, so distinct large templates posted to
    `/validate` cannot grow memory without bound; the least recently used go first.
    """

    def __init__(self, *, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self._entries: OrderedDict[tuple[str, Delims, Format], Template] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def parse(self, text: str, delims: Delims, form: Format) -> Template:
        key = (text, delims, form)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        funcs = istio_funcs.LEGACY_FUNCS if form == "legacy" else istio_funcs.FUNCS
        template = gotemplate.parse(
            text, name=TEMPLATE_NAME, delims=delims, funcs=funcs, sprig=True
        )
        if len(text) <= self.max_chars:
            self._keep(key, template)
        return template

    def _keep(self, key: tuple[str, Delims, Format], template: Template) -> None:
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = template
            self.chars += len(key[0])
            while self.chars > self.max_chars:
                (text, _, _), _ = self._entries.popitem(last=False)
                self.chars -= len(text)


PARSED_TEMPLATES = ParsedTemplates(max_chars=boundedyaml.CONFIG.max_bytes)
"""One config's worth of template text (a ConfigMap holds at most 1 MiB)."""


def _line_col(err: Exception) -> tuple[int | None, int | None]:
    line, col = getattr(err, "line", None), getattr(err, "col", None)
    if isinstance(line, int):
        return line, col if isinstance(col, int) else None
    match = re.search(r":(\d+)(?::(\d+))?:", str(err))
    if match:
        return int(match.group(1)), int(match.group(2)) if match.group(2) else None
    return None, None


def parse_values(text: str, *, source: str = "values") -> Mapping[str, JSON]:
    """The `values` key; numbers become floats because Go decodes them into float64."""
    raw = document(text, key="values", source=source)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"must be a mapping (Helm values), not {type(raw).__name__}",
            location=Location(source=source),
            hint="write a JSON object or a YAML mapping",
        )
    result: Mapping[str, JSON] = as_go_numbers(raw)
    return result


def as_go_numbers(value: JSON) -> JSON:
    """JSON data as Go's `map[string]any` has it: every number a float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): as_go_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_go_numbers(v) for v in value]
    return value


def parse_mesh(text: str, *, source: str = "mesh") -> MeshConfig:
    """The `mesh` key applied over Istio's DefaultMeshConfig, as `--meshConfigFile` does."""
    raw = document(text, key="mesh", source=source)
    if raw is None:
        return default_mesh()
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"must be a mapping (MeshConfig), not {type(raw).__name__}",
            location=Location(source=source),
        )
    try:
        return apply_mesh(raw)
    except FieldError as err:
        raise ConfigError(
            f"{err.path}: {err.message}",
            location=Location(source=source),
            hint="see Istio's MeshConfig reference for the field's type",
        ) from err


def _validation_error(err: ValidationError, source: str) -> ConfigError:
    lines = []
    for problem in err.errors():
        path = ".".join(str(p) for p in problem["loc"])
        lines.append(f"{path}: {_message(problem)}")
    return ConfigError(
        "; ".join(lines),
        location=Location(source=source),
        hint="see the injection config format (policy, templates, defaultTemplates, aliases, "
        "neverInjectSelector, alwaysInjectSelector, injectedAnnotations)",
    )


def _message(problem: Any) -> str:
    kind = problem.get("type", "")
    given = problem.get("input")
    if kind == "literal_error":
        return f"{excerpt(repr(given))} is not allowed; {problem['msg'].lower()}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "value_error":
        return str(problem.get("ctx", {}).get("error", problem["msg"]))
    return f"{problem['msg'].lower()} (got {excerpt(repr(given))})"
