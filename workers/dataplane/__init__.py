"""The data plane: what every worker shares, in one database named by `OVERDUE_DATABASE_URL`.

Policy versions (content-addressed snapshots), the outbox (every contact, exactly once), rollout
records and console users live here. The embedded default is a SQLite file in the data folder
(write-ahead logging on); `postgresql://...` lets workers on several machines share it, so no
worker needs a shared folder. The schema is SQLAlchemy Core (`schema.py`), migrated by Alembic
scripts shipped in this package and run from code (`migrate.py`): no `alembic.ini` for users.
"""

from __future__ import annotations

from workers.dataplane.database import (
    DATABASE_URL_ENV,
    DataPlane,
    DataPlaneError,
    database_url,
    display_url,
)

__all__ = ["DATABASE_URL_ENV", "DataPlane", "DataPlaneError", "database_url", "display_url"]
