"""The server process of ``api_bench.py``: Kasir's app plus a hello-world route, on the stack
``kasir serve`` uses (uvicorn, uvloop, httptools, one process).

Settings come from ``KASIR_*`` variables as for ``kasir serve``; ``api_bench.py`` sets them and
has already migrated the database. Differences from ``kasir serve``, each on purpose: no access
log (it would measure the terminal), and an extra ``GET /hello`` route.

    python benchmarks/api_server.py --port 8765
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from kasir.app import create_app
from kasir.config import Settings


def build_app() -> FastAPI:
    app = create_app(Settings())

    # The baseline: FastAPI's hello world, behind the same middleware, exception handlers, router
    # and server as Kasir's own routes, so the ratios isolate Kasir's work. response_model=None
    # keeps it the textbook unannotated route: the annotation is for mypy, not a response model.
    @app.get("/hello", include_in_schema=False, response_model=None)
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    # First in the route table, as in a hello-world app. Left last, every request would first be
    # matched against each of Kasir's included routers: with FastAPI 0.165 that cost ~80 µs here,
    # more than the route itself, while check and create sit in the first router and pay ~10 µs.
    app.router.routes.insert(0, app.router.routes.pop())
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        build_app(),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
