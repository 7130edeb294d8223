"""What the API sends (Run, Workflow) and what the tools return (reports): pydantic, no I/O.

Parsing is lenient: the API's camelCase fields are read, unknown fields are kept aside, timestamps stay strings
(read as datetimes only where an age is needed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "RUNNING",
    "ResultPage",
    "Run",
    "RunReport",
    "WaitReport",
    "Workflow",
    "WorkflowInfo",
    "WorkflowList",
    "parse_run",
    "parse_timestamp",
    "parse_workflows",
    "status_key",
]

RUNNING = "running"
"""The only status that is not final: anything else, even a status the API never documented, ends a wait."""


def status_key(status: str) -> str:
    """A status as compared: `" Running"` and `"running"` are the same status."""
    return status.strip().lower()


_LIST_KEYS = ("workflows", "data", "items")
_RUN_FIELDS = {"id", "status", "result", "params", "startedAt", "workflow", "workflowId", "appId"}


class Workflow(BaseModel):
    """A workflow as the API describes it."""

    id: str
    name: str | None = None
    description: str | None = None


class Run(BaseModel):
    """A run as the API describes it."""

    id: str
    status: str
    workflow_id: str | None = None
    workflow_name: str | None = None
    params: dict[str, Any] | None = None
    result: Any = None
    started_at: str | None = None
    other: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_running(self) -> bool:
        """True while the run may still change."""
        return status_key(self.status) == RUNNING


def parse_run(data: object) -> Run:
    """Read a run from the API's JSON; ValueError if it has no id or status."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object for a run, got {type(data).__name__}")
    run_id, status = data.get("id"), data.get("status")
    if not isinstance(run_id, str | int) or isinstance(run_id, bool) or str(run_id) == "":
        raise ValueError("the run has no id")
    if not isinstance(status, str) or not status:
        raise ValueError("the run has no status")
    workflow = data.get("workflow")
    workflow_id = data.get("workflowId")
    workflow_name = None
    if isinstance(workflow, dict):
        workflow_id = workflow.get("id", workflow_id)
        workflow_name = workflow.get("name")
    params = data.get("params")
    started = data.get("startedAt")
    return Run(
        id=str(run_id),
        status=status,
        workflow_id=str(workflow_id) if isinstance(workflow_id, str | int) else None,
        workflow_name=workflow_name if isinstance(workflow_name, str) else None,
        params=params if isinstance(params, dict) else None,
        result=data.get("result"),
        started_at=started if isinstance(started, str) else None,
        other={key: value for key, value in data.items() if key not in _RUN_FIELDS},
    )


def parse_workflows(data: object) -> list[Workflow] | None:
    """Read the workflow listing: an array, or an object wrapping one. None if the shape is unknown."""
    items: object = data
    if isinstance(data, dict):
        items = next((data[key] for key in _LIST_KEYS if isinstance(data.get(key), list)), None)
    if not isinstance(items, list):
        return None
    workflows: list[Workflow] = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), str | int) and not isinstance(item.get("id"), bool):
            name, description = item.get("name"), item.get("description")
            workflows.append(
                Workflow(
                    id=str(item["id"]),
                    name=name if isinstance(name, str) else None,
                    description=description if isinstance(description, str) else None,
                )
            )
    return workflows


def parse_timestamp(value: str | None) -> datetime | None:
    """Read an RFC 3339 timestamp (any number of fractional digits) as UTC; None if it cannot be read.

    A time without a zone is taken as UTC, as the API writes its times.
    """
    if not value or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# ---- what the tools return -------------------------------------------------------------------------------


class ResultPage(BaseModel):
    """One page of a result too large to send whole: a slice of its JSON text."""

    text: str = Field(description="This slice of the result's JSON text (not valid JSON on its own).")
    offset: int = Field(description="Where this slice starts in the result's JSON text, in characters.")
    total_chars: int = Field(description="Length of the whole result's JSON text, in characters.")
    next_offset: int | None = Field(
        description="Pass this as `result_offset` to `get_run` for the next slice; null at the end."
    )


class RunReport(BaseModel):
    """A run as the model sees it."""

    id: str = Field(description="The run's id: pass it to `get_run` or `wait_for_run`.")
    status: str = Field(description="`running` while it works; `completed`, `failed` or another final status after.")
    workflow_id: str | None = Field(default=None, description="Id of the workflow this run executes.")
    workflow_name: str | None = Field(default=None, description="Name of that workflow, when known.")
    started_at: str | None = Field(default=None, description="When the run started (RFC 3339), as the API said.")
    params: dict[str, Any] | None = Field(default=None, description="The parameters the run was started with.")
    result: Any = Field(
        default=None,
        description="The run's result (or the part chosen with `result_pointer`) when it fits; else null and see "
        "`result_page`.",
    )
    result_page: ResultPage | None = Field(
        default=None, description="Set when the result was too large to send whole: one slice of its JSON text."
    )
    other: dict[str, Any] = Field(default_factory=dict, description="Any other attributes the API returned.")
    next_step: str = Field(description="What to do next.")


class WaitReport(RunReport):
    """A run after waiting for it."""

    timed_out: bool = Field(description="True when the wait ended before the run did: the run is still running.")
    elapsed_seconds: float = Field(description="How long this call waited, in seconds.")
    polls: int = Field(description="How many times the run was read during this call.")


class WorkflowInfo(BaseModel):
    """A workflow the assistant may run."""

    id: str = Field(description="Pass this as `workflow_id` to `execute_workflow`.")
    name: str | None = Field(default=None, description="The workflow's name.")
    description: str | None = Field(default=None, description="What the workflow does.")
    params_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the parameters (`params`) it expects, when documented."
    )
    result_description: str | None = Field(default=None, description="What its result holds, when documented.")
    result_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of its result (`result` of the run), when documented."
    )
    safe: bool | None = Field(
        default=None, description="True when the operator says it changes nothing; false when it changes data."
    )
    default_wait_seconds: float | None = Field(
        default=None, description="A good `wait_seconds` for execute_workflow: about how long a run takes."
    )
    tool: str | None = Field(default=None, description="Its own tool, which starts it with typed arguments.")
    source: Literal["api", "catalog", "both"] = Field(
        default="api", description="Where this entry comes from: the API's listing, the local catalog, or both."
    )


class WorkflowList(BaseModel):
    """The workflows the assistant may run."""

    workflows: list[WorkflowInfo] = Field(
        description="The workflows, in the API's order, then those only the local catalog describes."
    )
    note: str | None = Field(default=None, description="Anything that limits this listing.")
