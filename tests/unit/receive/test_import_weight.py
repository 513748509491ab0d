"""Importing the receiver SDK in a merchant's app pulls in none of Kasir's server stack. Each check
runs in a fresh interpreter, so what this test session already imported cannot hide anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SERVER_STACK = ("fastapi", "starlette", "pydantic", "pydantic_core", "sqlalchemy", "aiohttp", "uvicorn", "alembic")
FRAMEWORKS = ("flask", "werkzeug", "django")


def loaded_after(statement: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after ``statement`` runs in a new interpreter."""
    code = f"{statement}; import json, sys; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import kasir.receive",
        "import kasir.receive.idempotency",
        "from kasir.receive import verify; from kasir.receive.idempotency import SQLiteOnce, RedisOnce",
        "import kasir.dialects",
    ],
)
def test_the_sdk_imports_no_server_stack(statement: str) -> None:
    loaded = loaded_after(statement)
    assert "kasir" in loaded
    assert loaded.isdisjoint(SERVER_STACK), sorted(loaded & set(SERVER_STACK))
    assert loaded.isdisjoint(FRAMEWORKS), sorted(loaded & set(FRAMEWORKS))
    assert "redis" not in loaded  # RedisOnce imports it only when given a URL


def test_the_sdk_imports_no_server_module_of_kasir() -> None:
    code = (
        "import kasir.receive, kasir.receive.idempotency, sys; "
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('kasir'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    modules = set(done.stdout.split())
    assert modules <= {"kasir", "kasir.receive", "kasir.receive.idempotency", "kasir.dialects"} | {
        m for m in modules if m.startswith("kasir.dialects.")
    }, sorted(modules)


def test_the_check_sees_a_heavy_import() -> None:
    """The control: the Starlette adapter does load Starlette, and the check notices."""
    loaded = loaded_after("import kasir.receive.starlette")
    assert "starlette" in loaded
