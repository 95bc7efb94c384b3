"""Strict pydantic models: unknown keys are refused with a did-you-mean, errors are one line.

Every config object in rayswarm derives from `StrictModel`, and every entry point that reads user
input goes through `parse()`, so a typo in a YAML key fails before any model is loaded.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from rayswarm.graphs.errors import ConfigError, RayswarmError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """A frozen-shape config model: extra keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def did_you_mean(word: str, choices) -> str:
    """' (did you mean "x"?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _location(loc) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def _model_at(model: type[BaseModel], loc) -> type[BaseModel] | None:
    """Walk `loc` through nested model fields to the model that owns the last key.

    Parts that are not fields (list indices, dict keys such as an agent's name) are stepped over.
    """
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        field = current.model_fields.get(part)
        if field is not None:
            current = _innermost_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _innermost_model(annotation) -> Any:
    """The BaseModel inside list[X], dict[str, X], X | None, … (or the annotation itself)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _innermost_model(arg)
        if found is not None:
            return found
    return None


def format_validation_error(model: type[BaseModel], err: ValidationError, source: str = "config") -> str:
    """One line naming the first problem, with a did-you-mean for unknown keys.

    An unknown key is reported before anything else: a misspelt required key ("agnts") also shows up
    as "agents: Field required", and the misspelling is the more useful half of the news.
    """
    errors = err.errors()
    first = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
    loc = first.get("loc", ())
    where = _location(loc)
    if first.get("type") == "extra_forbidden":
        owner = _model_at(model, loc)
        hint = did_you_mean(loc[-1], owner.model_fields) if owner else ""
        return f"{source}: unknown key '{where}'{hint}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {where}: {first.get('msg')}{more}"


def parse(model: type[M], data: Any, source: str = "config") -> M:
    """Validate `data` into `model`, turning pydantic's report into a one-line ConfigError."""
    if data is None:
        raise ConfigError(f"{source}: is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(model, err, source)) from None
    except RayswarmError as err:  # raised by a model's own validator, e.g. a graph's cycle check
        raise type(err)(f"{source}: {err}") from None


def read_yaml(path_or_text: str | Path, source: str = "config") -> tuple[Any, str]:
    """(content, source name) of a .yaml/.yml file path or of YAML text; errors name file and line.

    A file is named by its path; YAML text by `source`.
    """
    text = str(path_or_text)
    if isinstance(path_or_text, Path) or ("\n" not in text and text.endswith((".yaml", ".yml"))):
        source = text
        try:
            text = Path(path_or_text).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{source}: cannot read ({err.strerror})") from None
    try:
        return yaml.safe_load(text), source
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{source}{where}: malformed YAML ({problem})") from None
