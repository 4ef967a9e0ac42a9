"""Real servers for integration tests, each on a free loopback port (see local/servers.py)."""

from local.servers import free_port, serve_wsgi, wait_for_http

__all__ = ["free_port", "serve_wsgi", "wait_for_http"]
