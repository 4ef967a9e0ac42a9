"""`python -m local.telegram_emulator`: serve the emulator on $EMULATOR_HOST:$EMULATOR_PORT.

Both default to local mode's 127.0.0.1:8081.
"""

from __future__ import annotations

import logging
import signal
import sys

from werkzeug.serving import make_server

from common.env import SettingsError
from common.jsonlog import configure_logging

from .app import create_app
from .settings import Settings

log = logging.getLogger("local.telegram_emulator")


def _stop(signum, frame):
    raise SystemExit(0)


def main() -> int:
    configure_logging("telegram-emulator")
    try:
        settings = Settings.from_env()
        app = create_app(settings.token)
    except (SettingsError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        return 2
    configure_logging("telegram-emulator", settings.log_level)
    # werkzeug's access log prints request paths, and Bot API paths carry the token.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        server = make_server(settings.host, settings.port, app, threaded=True)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", settings.host, settings.port, exc.strerror or exc)
        return 1
    signal.signal(signal.SIGTERM, _stop)
    log.info(
        "telegram emulator listening on http://%s:%s (chat page at /)", settings.host, settings.port
    )
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        log.info("shutting down")
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
