"""Storage: tables, engines, migrations."""

from kasir.db.engine import Database, build_engine
from kasir.db.migrate import upgrade

__all__ = ["Database", "build_engine", "upgrade"]
