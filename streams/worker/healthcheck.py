"""The container's health check: ``python -m streams.worker.healthcheck``.

Asks the worker in the same container for ``/healthz`` on 127.0.0.1 at its configured port,
over HTTPS when its web config file turns TLS on (the probes need no login,
docs/security.md). It reads the configuration the worker reads (``CCPULSE_CONFIG``, the
``CCPULSE_*`` variables), so a worker with TLS stays healthy. The certificate is not checked:
the check talks to its own container over the loopback, where the name on a deployment's
certificate never matches. Exit 0 when ``/healthz`` answers 200; else 1 with one line on
standard error.
"""

from __future__ import annotations

import http.client
import ssl
import sys
import urllib.error
import urllib.request

from streams.errors import CcpulseError
from streams.settings import load_config
from streams.webconfig import load_web_config

TIMEOUT_S = 4.0


def healthz_url() -> tuple[str, ssl.SSLContext | None]:
    """The worker's ``/healthz`` on the loopback and the client TLS context (None: HTTP)."""
    deployment = load_config().deployment
    web = load_web_config(deployment.web_config_file)
    context = None
    if web.scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return f"{web.scheme}://127.0.0.1:{deployment.web_port}/healthz", context


def main() -> int:
    try:
        url, context = healthz_url()
        with urllib.request.urlopen(url, timeout=TIMEOUT_S, context=context) as answer:
            if answer.status == 200:
                return 0
            print(f"unhealthy: {url} answered {answer.status}", file=sys.stderr)
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url} answered {exc.code}", file=sys.stderr)
    except (CcpulseError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
    except http.client.HTTPException as exc:  # no HTTP status line: repr keeps it one line
        print(f"unhealthy: {url} answered {exc!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
