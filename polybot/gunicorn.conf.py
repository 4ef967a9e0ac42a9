"""gunicorn settings for polybot.

Run as: gunicorn -c polybot/gunicorn.conf.py "polybot.app:create_app()"
"""

import os

# polybot's default port; the Dockerfile, the CodeDeploy hook settings and the CloudFormation
# template repeat it, because they cannot import it.
bind = f"0.0.0.0:{os.environ.get('POLYBOT_PORT', '8443')}"
# Threaded workers: requests mostly wait on Telegram and AWS, so threads are cheap concurrency.
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A request may wait on Telegram's 429 retry budget (30 s) plus AWS calls.
timeout = 60
graceful_timeout = 30
keepalive = 75  # longer than the ALB's 60 s idle timeout, so the ALB closes first
# The app logs JSON itself; gunicorn's access log would add the query string only, never bodies.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Each worker builds its own clients; no preload, so no boto3 client crosses a fork.
preload_app = False
