"""Guard rails: the operator's allow-list of workflow ids and read-only mode, narrowed for the caller being served by
what its access token grants (`grant`). Checked before anything is sent.

The rules live here alone: the HTTP layer only says who the caller is and what it was granted; the run service asks
this guard.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wave_mcp.errors import AccessDeniedError
from wave_mcp.grant import SCOPE_RUN, Grant, current_grant
from wave_mcp.models import Run

__all__ = ["Guard"]


@dataclass(frozen=True)
class Guard:
    """What this server may do. An empty allow-list allows every workflow. Each check also applies the grant of
    the caller being served, if any (the intersection of both lists; no run without the `wave:run` scope)."""

    allowed: frozenset[str] = frozenset()
    read_only: bool = False

    @classmethod
    def of(cls, allowed: Iterable[str], read_only: bool) -> Guard:
        """The guard for `WAVE_ALLOWED_WORKFLOWS` and `WAVE_READ_ONLY`."""
        return cls(allowed=frozenset(allowed), read_only=read_only)

    def allows(self, workflow_id: str) -> bool:
        """True when this workflow may be listed, documented and run, by the operator and for this caller."""
        grant = current_grant()
        return self._operator_allows(workflow_id) and (grant is None or grant.allows(workflow_id))

    def check_execute(self, workflow_id: str) -> None:
        """Refuse to start a run that the operator did not allow, or that the caller's token does not grant
        (AccessDeniedError); nothing is sent."""
        grant = current_grant()
        if self.read_only:
            raise AccessDeniedError(
                "This server is read-only (WAVE_READ_ONLY): it starts no workflows, so nothing was sent. It can still "
                "list workflows and read runs."
            )
        if grant is not None and not grant.may_run:
            raise AccessDeniedError(
                f"Your access token does not grant the scope '{SCOPE_RUN}', so this server is read-only for you: "
                "nothing was sent. You can still list workflows and read runs. To start runs, connect again and "
                f"grant '{SCOPE_RUN}' (ask the operator if your identity provider does not offer it to you)."
            )
        if not self._operator_allows(workflow_id):
            raise AccessDeniedError(
                f"Workflow '{workflow_id}' is not allowed on this server (WAVE_ALLOWED_WORKFLOWS), so nothing was "
                "sent. Call list_workflows for the workflows you may run, or ask the user to have the operator allow "
                "it."
            )
        if grant is not None and not grant.allows(workflow_id):
            raise AccessDeniedError(
                f"Workflow '{workflow_id}' is not among the workflows granted to you ({_claim(grant)}), so nothing "
                "was sent. Call list_workflows for the workflows you may run, or ask the identity provider's "
                "administrator to grant it."
            )

    def check_run(self, run: Run) -> Run:
        """Refuse to show a run of a workflow that is not allowed (or not granted); return the run otherwise."""
        if run.workflow_id is None:
            return run
        if not self._operator_allows(run.workflow_id):
            raise AccessDeniedError(
                f"Run '{run.id}' belongs to workflow '{run.workflow_id}', which is not allowed on this server "
                "(WAVE_ALLOWED_WORKFLOWS). Only runs of the workflows in list_workflows can be read."
            )
        grant = current_grant()
        if grant is not None and not grant.allows(run.workflow_id):
            raise AccessDeniedError(
                f"Run '{run.id}' belongs to workflow '{run.workflow_id}', which is not among the workflows granted "
                f"to you ({_claim(grant)}). Only runs of the workflows in list_workflows can be read."
            )
        return run

    def _operator_allows(self, workflow_id: str) -> bool:
        return not self.allowed or workflow_id in self.allowed


def _claim(grant: Grant) -> str:
    """How a refusal names where the caller's list of workflows came from."""
    return f"the '{grant.workflows_claim}' claim of your access token" if grant.workflows_claim else "your access token"
