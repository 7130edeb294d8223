"""The workflow catalog: an operator's file describing each workflow's parameters and result. No I/O beyond reading
it, no mcp.

`load_catalog(path)` reads and checks the file (TOML or JSON) and raises ConfigError in one line naming the file, the
workflow and the field. A `Catalog` checks params against a workflow's declared schema and merges the API's listing
with its own entries. What the model reads about the entries is written in `guide`.
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from wave_mcp.errors import ConfigError, InvalidInputError
from wave_mcp.limits import check_id
from wave_mcp.models import Workflow, WorkflowInfo

if TYPE_CHECKING:  # jsonschema is imported only when a catalog is loaded: it costs ~40 ms at start
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = [
    "GENERIC_TOOLS",
    "TOOL_NAME",
    "WAIT_ARGUMENT",
    "Catalog",
    "CatalogEntry",
    "load_catalog",
    "workflow_uri",
]

GENERIC_TOOLS = frozenset({"list_workflows", "execute_workflow", "get_run", "wait_for_run"})
"""Names a typed tool may not take."""

TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Typed tool names: what every client accepts (the MCP spec allows more; some model APIs do not)."""

WAIT_ARGUMENT = "wait_seconds"
"""The argument every typed tool adds to the declared parameters."""

MAX_VIOLATIONS = 20
"""At most this many params violations are listed in one error."""

MAX_MESSAGE_CHARS = 300

FIELDS = ("id", "name", "description", "params", "result", "result_schema", "tool", "safe", "default_wait_seconds")


def workflow_uri(workflow_id: str) -> str:
    """The resource URI of a catalogued workflow's documentation."""
    return f"wave://workflows/{quote(workflow_id, safe='')}"


class _Entry(BaseModel):
    """One `[[workflow]]` table as written: strict types, no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[str, StringConstraints(min_length=1)]
    name: str | None = None
    description: str | None = None
    params: dict[str, Any] | None = None
    result: str | None = None
    result_schema: dict[str, Any] | None = None
    tool: str | None = None
    safe: bool | None = None
    default_wait_seconds: float | None = Field(default=None, ge=0, le=3600)


@dataclass(frozen=True)
class CatalogEntry:
    """One checked workflow of the catalog. `tool` is its typed tool's name (given, or derived from the name)."""

    id: str
    tool: str
    name: str | None = None
    description: str | None = None
    params: dict[str, Any] | None = None
    result: str | None = None
    result_schema: dict[str, Any] | None = None
    safe: bool | None = None
    default_wait_seconds: float | None = None
    validator: Validator | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """How messages name it: `'monthly-report' (Monthly report)`."""
        return f"'{self.id}'" + (f" ({self.name})" if self.name and self.name != self.id else "")


@dataclass(frozen=True)
class Catalog:
    """The checked catalog: its entries in file order. Empty when no file is configured."""

    entries: tuple[CatalogEntry, ...] = ()
    path: Path | None = None

    def get(self, workflow_id: str) -> CatalogEntry | None:
        """The entry of this workflow, if catalogued."""
        return next((entry for entry in self.entries if entry.id == workflow_id), None)

    def check_params(self, workflow_id: str, params: Mapping[str, Any], *, tool: str = "execute_workflow") -> None:
        """Raise InvalidInputError listing every violation (with its path) when params break the declared schema.

        `tool` names the caller: the generic tool's paths start at `params`, a typed tool's at its arguments.
        """
        entry = self.get(workflow_id)
        if entry is None or entry.validator is None:
            return
        from referencing.exceptions import Unresolvable

        root = "params" if tool == "execute_workflow" else ""
        try:
            errors = sorted(entry.validator.iter_errors(dict(params)), key=lambda e: (_path(root, e), e.message))
        except Unresolvable as exc:
            raise InvalidInputError(
                f"The catalog's parameter schema of workflow {entry.label} refers to something it cannot resolve "
                f"({exc}), so params cannot be checked and nothing was sent. Tell the operator to fix the catalog."
            ) from None
        if not errors:
            return
        lines = [f"- {_path(root, error)}: {_shorten(error.message)}" for error in errors[:MAX_VIOLATIONS]]
        if len(errors) > MAX_VIOLATIONS:
            lines.append(f"- … and {len(errors) - MAX_VIOLATIONS} more")
        what = "params" if root else "arguments"
        where = "list_workflows shows the expected params (params_schema)" if root else "its input schema lists them"
        raise InvalidInputError(
            f"The {what} do not match the parameters of workflow {entry.label}, so nothing was sent. "
            f"{len(errors)} problem{'s' * (len(errors) != 1)}:\n" + "\n".join(lines) + f"\nFix "
            f"{'them' if len(errors) != 1 else 'it'} and call {tool} again; {where}."
        )

    def listing(
        self, api: list[Workflow] | None, *, allowed: Callable[[str], bool], tools: Iterable[str] = ()
    ) -> list[WorkflowInfo]:
        """The API's workflows enriched by the catalog, then those only the catalog knows, all allowed.

        `tools` are the typed tools offered now: their entries name them.
        """
        offered = set(tools)
        infos: list[WorkflowInfo] = []
        seen: set[str] = set()
        for workflow in api or []:
            if workflow.id in seen or not allowed(workflow.id):
                continue
            seen.add(workflow.id)
            infos.append(self._info(workflow, self.get(workflow.id), offered))
        infos.extend(
            self._info(None, entry, offered) for entry in self.entries if entry.id not in seen and allowed(entry.id)
        )
        return infos

    @staticmethod
    def _info(workflow: Workflow | None, entry: CatalogEntry | None, offered: set[str]) -> WorkflowInfo:
        if entry is None:
            assert workflow is not None
            return WorkflowInfo(id=workflow.id, name=workflow.name, description=workflow.description, source="api")
        return WorkflowInfo(
            id=entry.id,
            name=entry.name or (workflow.name if workflow else None),
            description=entry.description or (workflow.description if workflow else None),
            params_schema=entry.params,
            result_description=entry.result,
            result_schema=entry.result_schema,
            safe=entry.safe,
            default_wait_seconds=entry.default_wait_seconds,
            tool=entry.tool if entry.tool in offered else None,
            source="both" if workflow else "catalog",
        )


def _path(root: str, error: ValidationError) -> str:
    text = root
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(arguments)"


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "…"


# ---- loading and checking --------------------------------------------------------------------------------------


def load_catalog(path: Path) -> Catalog:
    """Read and check the catalog file; ConfigError in one line naming the file, the workflow and the field."""
    raw = _read(path)
    if not isinstance(raw, dict):
        raise _file_error(path, "the top level must be a table (TOML) or an object (JSON) with a 'workflow' list")
    unknown = sorted(key for key in raw if key not in ("workflow", "$schema"))
    if unknown:
        raise _file_error(path, f"unknown top-level key '{unknown[0]}': workflows go in a 'workflow' list")
    items = raw.get("workflow")
    if not isinstance(items, list) or not items:
        raise _file_error(
            path, "no workflows: describe each one in a [[workflow]] table (TOML) or the 'workflow' array (JSON)"
        )
    entries: list[CatalogEntry] = []
    for number, item in enumerate(items, start=1):
        entries.append(_entry(path, number, item, entries))
    return Catalog(entries=tuple(entries), path=path)


def _read(path: Path) -> Any:
    suffix = path.suffix.lower()
    if not path.exists():
        raise _file_error(path, "cannot be read (no such file): give the path of an existing .toml or .json file")
    if suffix not in (".toml", ".json"):
        raise _file_error(path, f"unknown file type '{path.suffix or '(none)'}': use a .toml or .json file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _file_error(path, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = data.decode("utf-8")
        return tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except UnicodeDecodeError:
        raise _file_error(path, "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise _file_error(path, f"not valid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise _file_error(path, f"not valid JSON: {exc}") from None


def _file_error(path: Path, message: str) -> ConfigError:
    return ConfigError(f"invalid catalog {path}: {message}")


def _entry(path: Path, number: int, item: object, earlier: list[CatalogEntry]) -> CatalogEntry:
    def fail(field_name: str, message: str) -> ConfigError:
        workflow_id = item.get("id") if isinstance(item, dict) else None
        who = f"workflow '{workflow_id}' (entry {number})" if isinstance(workflow_id, str) and workflow_id else None
        return _file_error(path, f"{who or f'workflow entry {number}'}, field '{field_name}': {message}")

    if not isinstance(item, dict):
        raise _file_error(path, f"workflow entry {number} must be a table (TOML) or an object (JSON)")
    try:
        entry = _Entry.model_validate(item)
    except PydanticValidationError as exc:
        raise fail(*_first_problem(exc)) from None

    try:
        check_id(entry.id, "workflow")
    except InvalidInputError as exc:
        raise fail("id", str(exc)) from None
    twin = next((other for other in earlier if other.id == entry.id), None)
    if twin is not None:
        raise fail("id", f"duplicate id: entry {earlier.index(twin) + 1} already describes this workflow")

    validator = _params_validator(entry.params, lambda message: fail("params", message))
    if entry.result_schema is not None:
        _schema_class(entry.result_schema, lambda message: fail("result_schema", message))

    tool = entry.tool if entry.tool is not None else _tool_name(entry.name, entry.id)
    if not TOOL_NAME.match(tool):
        raise fail("tool", f"'{tool}' is not a valid tool name: use 1 to 64 letters, digits, '_' or '-'")
    if tool in GENERIC_TOOLS:
        raise fail("tool", f"'{tool}' is the name of a built-in tool: choose another")
    clash = next((other for other in earlier if other.tool == tool), None)
    if clash is not None:
        raise fail("tool", f"tool name '{tool}' is already used by workflow '{clash.id}': set a distinct 'tool'")

    return CatalogEntry(
        id=entry.id,
        tool=tool,
        name=entry.name,
        description=entry.description,
        params=entry.params,
        result=entry.result,
        result_schema=entry.result_schema,
        safe=entry.safe,
        default_wait_seconds=entry.default_wait_seconds,
        validator=validator,
    )


def _first_problem(exc: PydanticValidationError) -> tuple[str, str]:
    """The field and message of an entry's first problem, and how many more there are."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    field_name = ".".join(str(part) for part in first["loc"]) or "?"
    if first["type"] == "extra_forbidden":
        message = f"unknown field; the fields are {', '.join(FIELDS)}"
    elif first["type"] == "missing":
        message = "required"
    else:
        message = str(first["msg"])
    more = f" (and {len(errors) - 1} more problem{'s' * (len(errors) != 2)})" if len(errors) > 1 else ""
    return field_name, message + more


def _params_validator(params: dict[str, Any] | None, fail: Callable[[str], ConfigError]) -> Validator | None:
    """The validator of a workflow's params schema (None without one): a JSON Schema of an object, without
    the typed tools' own argument."""
    if params is None:
        return None
    validator_class = _schema_class(params, fail)
    if params.get("type") != "object":
        raise fail('must describe a JSON object ("type": "object"): the params are the request body')
    properties = params.get("properties", {})
    if isinstance(properties, dict) and WAIT_ARGUMENT in properties:
        raise fail(f"must not declare '{WAIT_ARGUMENT}': the workflow's typed tool uses that argument")
    return validator_class(params, format_checker=validator_class.FORMAT_CHECKER)


def _schema_class(schema: dict[str, Any], fail: Callable[[str], ConfigError]) -> type[Validator]:
    """The validator class for `schema` (JSON Schema 2020-12 unless `$schema` names another draft), once the
    schema is checked against its meta-schema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    validator_class: type[Validator] = Draft202012Validator
    if "$schema" in schema:
        draft = schema["$schema"]
        unknown = fail(f"unknown $schema {draft!r}: leave it out (JSON Schema 2020-12 is assumed)")
        if not isinstance(draft, str):
            raise unknown
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            try:
                validator_class = validator_for(schema)
            except DeprecationWarning:
                raise unknown from None
    try:
        validator_class.check_schema(schema)
    except SchemaError as error:
        where = ".".join(str(part) for part in error.absolute_path)
        raise fail(
            f"not a valid JSON Schema: {_shorten(error.message)}" + (f" (at {where})" if where else "")
        ) from None
    return validator_class


def _tool_name(name: str | None, workflow_id: str) -> str:
    """`run_` + a slug of the name (or of the id when the name gives none)."""
    for text in (name or "", workflow_id):
        plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")
        if slug:
            return ("run_" + slug)[:64].rstrip("_")
    return "run_workflow"
