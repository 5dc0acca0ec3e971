"""Who may approve what. Approvers are Slack user ids (U…/W…) and user-group ids (S…), per action or for
every action ("*"); a two-person action needs two different approvers. No approvers configured: nobody
may approve (fail closed)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

USER_RE = re.compile(r"^[UW][A-Z0-9]{2,20}$")
GROUP_RE = re.compile(r"^S[A-Z0-9]{2,20}$")
EVERY_ACTION = "*"


class PolicyError(ValueError):
    """The approver configuration is malformed."""


@dataclass(frozen=True)
class ApproverPolicy:
    approvers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # action or "*" -> ids
    groups: tuple[str, ...] = ()  # user groups approving every action
    two_person: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, approvers: str, groups: str, two_person: str, known: Collection[str]) -> ApproverPolicy:
        """From the environment: APPROVERS (JSON {"action" or "*": ["U…", "S…"]}), APPROVER_GROUPS and
        TWO_PERSON_ACTIONS (comma-separated)."""
        try:
            raw: Any = json.loads(approvers) if approvers.strip() else {}
        except json.JSONDecodeError as error:
            raise PolicyError(f"APPROVERS must be JSON ({error})") from None
        if not isinstance(raw, dict):
            raise PolicyError('APPROVERS must be a JSON object such as {"*": ["U0123ABCD"]}')
        table: dict[str, tuple[str, ...]] = {}
        for action, given in raw.items():
            if action != EVERY_ACTION and action not in known:
                raise PolicyError(f"APPROVERS names unknown action {action!r} (known: {', '.join(sorted(known))})")
            ids = [i.strip() for i in given.split(",") if i.strip()] if isinstance(given, str) else given
            if not isinstance(ids, list) or not all(
                isinstance(i, str) and (USER_RE.match(i) or GROUP_RE.match(i)) for i in ids
            ):
                raise PolicyError(f"APPROVERS[{action!r}] must list Slack user ids (U…/W…) or user-group ids (S…)")
            table[action] = tuple(ids)
        group_ids = tuple(g.strip() for g in groups.split(",") if g.strip())
        bad = [g for g in group_ids if not GROUP_RE.match(g)]
        if bad:
            raise PolicyError(f"APPROVER_GROUPS must be Slack user-group ids (S…), got {', '.join(bad)}")
        two = frozenset(a.strip() for a in two_person.split(",") if a.strip())
        unknown = sorted(two - set(known))
        if unknown:
            raise PolicyError(f"TWO_PERSON_ACTIONS names unknown action(s) {', '.join(unknown)}")
        return cls(table, group_ids, two)

    def principals(self, action: str) -> tuple[frozenset[str], frozenset[str]]:
        """(user ids, group ids) allowed to approve `action`."""
        ids = (*self.approvers.get(EVERY_ACTION, ()), *self.approvers.get(action, ()))
        users = frozenset(i for i in ids if USER_RE.match(i))
        groups = frozenset(i for i in ids if GROUP_RE.match(i)) | frozenset(self.groups)
        return users, groups

    def needed(self, action: str) -> int:
        return 2 if action in self.two_person else 1

    def allows(self, action: str, user: str, members: Callable[[str], Collection[str]]) -> bool:
        users, groups = self.principals(action)
        if user in users:
            return True
        return any(user in members(group) for group in sorted(groups))


class GroupDirectory:
    """`usergroups.users.list`, cached per group for `ttl` seconds across warm invocations."""

    def __init__(self, client: Any, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def __call__(self, group: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(group)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        response = self._client.usergroups_users_list(usergroup=group)
        members = frozenset(str(u) for u in response.get("users") or ())
        with self._lock:
            self.calls += 1
            self._cache[group] = (now, members)
        return members
