"""``python -m etl_web``: serve the catalog (``ETL_WEB_HOST``:``ETL_WEB_PORT``, default
127.0.0.1:8080) on the ledger and object store named by the platform's environment."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from etl_web.app import create_app
    from etl_web.settings import WebSettings

    settings = WebSettings.from_env()
    parser = argparse.ArgumentParser(prog="python -m etl_web", description=__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    args = parser.parse_args(argv)
    app = create_app(settings=settings)
    mode = "read-write (token set)" if settings.writable else "read-only (no ETL_WEB_TOKEN)"
    print(f"dataset catalog on http://{args.host}:{args.port} ({mode})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
