"""What the model reads about catalogued workflows: typed tools' input schemas and descriptions, each workflow's
documentation (`wave://workflows/{id}`), and the prompt that walks a user through running one. Pure text, no mcp."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

from wave_mcp.catalog import WAIT_ARGUMENT, CatalogEntry

__all__ = ["documentation", "prompt_text", "tool_description", "tool_schema", "wait_default"]


def wait_default(entry: CatalogEntry, wait_max: float) -> float:
    """The typed tool's default `wait_seconds`: the catalog's, at most `wait_max`."""
    return min(entry.default_wait_seconds or 0.0, wait_max)


def tool_schema(entry: CatalogEntry, *, wait_max: float) -> dict[str, Any]:
    """A typed tool's input schema: the declared params schema plus an optional `wait_seconds`."""
    schema: dict[str, Any] = copy.deepcopy(entry.params) if entry.params is not None else {"type": "object"}
    properties: dict[str, Any] = schema.setdefault("properties", {})
    properties[WAIT_ARGUMENT] = {
        "type": "number",
        "minimum": 0,
        "maximum": _plain(wait_max),
        "default": _plain(wait_default(entry, wait_max)),
        "description": f"How long to wait for the run to finish in this call, in seconds (0 to {wait_max:g}). Keep "
        "it under about 50 s: many clients cut a tool call at 60 s. Not sent to the workflow.",
    }
    return schema


def tool_description(entry: CatalogEntry, *, wait_max: float) -> str:
    """A typed tool's description: the catalog's words first, then how to use the tool."""
    paragraphs = [entry.description or f"Run the Wave workflow {entry.label}."]
    paragraphs.append(
        f"Starts a new run of the Wave workflow {entry.label} and returns the run (its `id` and `status`). Every "
        "call starts another run: to check on one, call wait_for_run or get_run with its id. `wait_seconds` "
        f"(default {wait_default(entry, wait_max):g}) waits for the result in the same call; if the run is still "
        "`running` after that, call wait_for_run."
    )
    if entry.result:
        paragraphs.append(f"Result: {entry.result}")
    if entry.safe:
        paragraphs.append("The operator says this workflow changes nothing.")
    return "\n\n".join(paragraphs)


def documentation(entry: CatalogEntry, *, tool: str | None) -> str:
    """A workflow's documentation as the model should read it (Markdown)."""
    lines = [f"# {entry.name or entry.id}", "", f"Workflow id: `{entry.id}`"]
    if entry.description:
        lines += ["", entry.description]
    how = f"execute_workflow with workflow_id '{entry.id}' and `params` as below"
    if tool:
        how = f"its own tool `{tool}` (arguments: the parameters below, plus wait_seconds), or " + how
    lines += ["", "## How to run it", "", f"Call {how}. Then call wait_for_run with the run's id until it finishes."]
    if entry.safe is not None:
        lines += ["", "It changes nothing." if entry.safe else "It changes data: confirm with the user before."]
    if entry.default_wait_seconds is not None:
        lines += ["", f"A good wait_seconds: {entry.default_wait_seconds:g}."]
    lines += ["", "## Parameters (JSON Schema of `params`)", ""]
    lines += [_json_block(entry.params)] if entry.params is not None else ["Not documented."]
    lines += ["", "## Result", "", entry.result or "Not documented."]
    if entry.result_schema is not None:
        lines += ["", "JSON Schema of the result:", "", _json_block(entry.result_schema)]
    return "\n".join(lines) + "\n"


def prompt_text(entries: Sequence[CatalogEntry], tools: dict[str, str], goal: str | None) -> str:
    """The `run_workflow` prompt: how to choose, check and run a workflow with the user. `tools` maps ids to
    their typed tools."""
    want = f" I want this: {goal.strip()}" if goal and goal.strip() else ""
    lines = [
        f"Help me run a Wave workflow.{want}",
        "",
        "1. Call list_workflows to see the workflows I may run: their parameters (params_schema) and what their "
        "result holds (result_description). For a catalogued one, wave://workflows/<id> has its documentation.",
        "2. Choose the workflow that fits. If none fits, or more than one could, ask me which one.",
        "3. Work out its params from params_schema. Ask me for any required value you cannot tell from what I "
        "said. Unless the workflow is marked safe, show me the params and let me confirm before you start it.",
        "4. Start it once: with its own tool if it has one, else execute_workflow. Set wait_seconds to its "
        "default_wait_seconds, or about 20.",
        "5. If the run is still running, call wait_for_run with its id (again after a timeout) until it finishes. "
        "Never start it a second time to check on it.",
        "6. Tell me the outcome in plain words, explained with its result_description. A failed run is an answer "
        "to report, with what it said.",
    ]
    if entries:
        lines += ["", "The workflows the operator describes:"]
        for entry in entries:
            tool = f" (tool {tools[entry.id]})" if entry.id in tools else ""
            about = f": {entry.description}" if entry.description else ""
            lines.append(f"- {entry.id}, {entry.name or entry.id}{tool}{about}")
    return "\n".join(lines)


def _plain(number: float) -> float | int:
    """A whole number as an int, so the schema reads 10 rather than 10.0."""
    return int(number) if number.is_integer() else number


def _json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, ensure_ascii=False) + "\n```"
