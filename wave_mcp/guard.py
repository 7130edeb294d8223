"""Guard rails an operator sets: an allow-list of workflow ids and a read-only mode. Checked before anything is sent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wave_mcp.errors import AccessDeniedError
from wave_mcp.models import Run

__all__ = ["Guard"]


@dataclass(frozen=True)
class Guard:
    """What this server may do. An empty allow-list allows every workflow."""

    allowed: frozenset[str] = frozenset()
    read_only: bool = False

    @classmethod
    def of(cls, allowed: Iterable[str], read_only: bool) -> Guard:
        """The guard for `WAVE_ALLOWED_WORKFLOWS` and `WAVE_READ_ONLY`."""
        return cls(allowed=frozenset(allowed), read_only=read_only)

    def allows(self, workflow_id: str) -> bool:
        """True when this workflow may be listed, documented and run."""
        return not self.allowed or workflow_id in self.allowed

    def check_execute(self, workflow_id: str) -> None:
        """Refuse to start a run that the operator did not allow (AccessDeniedError); nothing is sent."""
        if self.read_only:
            raise AccessDeniedError(
                "This server is read-only (WAVE_READ_ONLY): it starts no workflows, so nothing was sent. It can still "
                "list workflows and read runs."
            )
        if not self.allows(workflow_id):
            raise AccessDeniedError(
                f"Workflow '{workflow_id}' is not allowed on this server (WAVE_ALLOWED_WORKFLOWS), so nothing was "
                "sent. Call list_workflows for the workflows you may run, or ask the user to have the operator allow "
                "it."
            )

    def check_run(self, run: Run) -> Run:
        """Refuse to show a run of a workflow that is not allowed; return the run otherwise."""
        if run.workflow_id is not None and not self.allows(run.workflow_id):
            raise AccessDeniedError(
                f"Run '{run.id}' belongs to workflow '{run.workflow_id}', which is not allowed on this server "
                "(WAVE_ALLOWED_WORKFLOWS). Only runs of the workflows in list_workflows can be read."
            )
        return run
