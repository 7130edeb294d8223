"""What the caller being served was granted, when an identity provider vouched for it (see `oauth`).

A context variable, like `caller`: the HTTP layer sets it around one request from a verified access token, and the
guard (`guard.Guard`) reads it to narrow what the operator allows. Outside such a request it is None: the server's
own rules alone apply (stdio, the static token, no auth).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["SCOPE_READ", "SCOPE_RUN", "Grant", "current_grant", "granted"]

SCOPE_READ = "wave:read"
"""List workflows, read and wait for runs, read resources, follow tasks."""
SCOPE_RUN = "wave:run"
"""Start runs (execute_workflow, the typed tools, tasks that start runs)."""


@dataclass(frozen=True)
class Grant:
    """Who the caller is (the token's subject) and what its token allows.

    `workflows` is None when no per-user list applies, else the only workflow ids this caller may list, read and
    run (within the operator's own allow-list).
    """

    subject: str
    may_run: bool
    workflows: frozenset[str] | None = None
    workflows_claim: str = ""
    """The claim `workflows` came from, to name it in refusals."""

    def allows(self, workflow_id: str) -> bool:
        """True when this caller's grant covers the workflow (always, without a per-user list)."""
        return self.workflows is None or workflow_id in self.workflows


_grant: ContextVar[Grant | None] = ContextVar("wave_mcp_grant", default=None)


@contextmanager
def granted(grant: Grant | None) -> Iterator[None]:
    """Apply `grant` to everything done inside this block (and the tasks it starts)."""
    token = _grant.set(grant)
    try:
        yield
    finally:
        _grant.reset(token)


def current_grant() -> Grant | None:
    """The grant of the caller being served, or None when no identity provider is in play."""
    return _grant.get()
