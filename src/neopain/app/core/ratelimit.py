"""Login throttling in the database: per account (across addresses) and per address (across accounts).

Each attempt is checked and counted in one statement (an UPDATE ... RETURNING under the row's lock), so
40 parallel guesses get no more tries than 5 serial ones, every server process shares the counts and a
restart keeps them. A success gives its attempt back; the counters live for one window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from neopain.app.core.audit import account_ref
from neopain.app.models import LoginCounter, utcnow


@dataclass(frozen=True)
class Limits:
    per_account: int
    per_address: int
    window_s: float


def _insert_missing(db: Session, kind: str, key: str, now: datetime) -> None:
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    db.execute(
        dialect.insert(LoginCounter)
        .values(kind=kind, key=key, window_start=now, count=0)
        .on_conflict_do_nothing(index_elements=["kind", "key"])
    )


def _bump(db: Session, kind: str, key: str, now: datetime, window: timedelta) -> tuple[int, datetime]:
    """Count one attempt in the current window (a stale window starts again); returns (count, start)."""
    _insert_missing(db, kind, key, now)
    stale = LoginCounter.window_start <= now - window
    row = db.execute(
        update(LoginCounter)
        .where(and_(LoginCounter.kind == kind, LoginCounter.key == key))
        .values(
            count=case((stale, 1), else_=LoginCounter.count + 1),
            window_start=case((stale, now), else_=LoginCounter.window_start),
        )
        .returning(LoginCounter.count, LoginCounter.window_start)
    ).one()
    return int(row[0]), row[1]


class LoginThrottle:
    def __init__(
        self, factory: sessionmaker[Session], key: bytes, limits: Limits, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.factory, self.key, self.limits, self.clock = factory, key, limits, clock

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return account_ref(self.key, username), address[:64]

    def reserve(self, username: str, address: str) -> int:
        """Count this attempt; 0 when it may go on to the password, else the seconds to wait."""
        account, client = self._keys(username, address)
        now, window = self.clock(), timedelta(seconds=self.limits.window_s)
        with self.factory() as db:
            waits = []
            for kind, key, limit in (("account", account, self.limits.per_account),
                                     ("address", client, self.limits.per_address)):
                count, start = _bump(db, kind, key, now, window)
                if count > limit:
                    waits.append(max(1, int((start + window - now).total_seconds()) + 1))
            db.commit()
        return max(waits, default=0)

    def succeeded(self, username: str, address: str) -> None:
        """A right password: the account starts afresh and the address gets its attempt back."""
        account, client = self._keys(username, address)
        with self.factory() as db:
            db.execute(delete(LoginCounter).where(LoginCounter.kind == "account", LoginCounter.key == account))
            db.execute(
                update(LoginCounter)
                .where(LoginCounter.kind == "address", LoginCounter.key == client, LoginCounter.count > 0)
                .values(count=LoginCounter.count - 1)
            )
            db.commit()

    def sweep(self) -> int:
        """Delete counters whose window has ended; returns how many."""
        cutoff = self.clock() - timedelta(seconds=self.limits.window_s)
        with self.factory() as db:
            gone = db.execute(delete(LoginCounter).where(LoginCounter.window_start <= cutoff)).rowcount
            db.commit()
        return int(gone or 0)
