"""Table definitions. Alembic migrations in ``migrations/versions`` create them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ProcessedEvent(Base):
    """One row per event a consumer has applied: a redelivery finds its row and stops."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CaseState(Base):
    """Where a subject's case stands, as the ZVH last told us."""

    __tablename__ = "case_state"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    zvh: Mapped[str] = mapped_column(String(60))
    municipality: Mapped[str | None] = mapped_column(String(10))
    included_since: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_event_id: Mapped[str] = mapped_column(String(200))


class TeamMembership(Base):
    """Who is in a subject's levensloopteam now; rows leave when the case ends."""

    __tablename__ = "team_membership"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner: Mapped[str] = mapped_column(String(60), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    since: Mapped[dt.date] = mapped_column(Date)
