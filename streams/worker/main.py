"""``ccpulse worker``: load the config, make sure the web port is free and the topics exist,
run the Faust worker.

Its log gets one line per kind of trouble with backoff (``streams.logfilter``): without a
broker aiokafka otherwise logs every reconnect attempt, ~120 lines a second.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from streams import compiled
from streams.core.events import DEADLETTER_TOPIC
from streams.errors import BrokerError
from streams.logfilter import StartupTransients, collapse_repeats_on
from streams.netcheck import ensure_port_free
from streams.runtime import tune_gc
from streams.settings import load_config
from streams.webconfig import load_web_config
from streams.worker.status import (
    configured_log_level,
    log_level,
    show_status,
    status,
    status_warning,
)

WEB_PORT_OPTION = "[worker] web_port in the config or CCPULSE_WEB_PORT"
#: A worker still shutting down this long after SIGTERM/SIGINT exits anyway.
SHUTDOWN_GRACE_S = 15.0
#: How long a starting worker tries to reach Kafka (and create its topics) before it gives up.
BROKER_WAIT_S = 30.0
#: A start still waiting for Kafka after this long says so ("waiting for Kafka at ...").
WAITING_NOTE_S = 2.0


def _exit_stuck(signal: Any) -> None:
    status_warning(f"still shutting down {SHUTDOWN_GRACE_S:g} s after {signal!s} (is the "
                   "broker gone?); exiting without the final commit")
    os._exit(1)


def run_worker(config_path: str | None) -> int:
    from streams.worker.allocator import set_in_process

    set_in_process(os.environ)  # glibc malloc settings, unless the environment gave them
    import faust

    from streams.kafka.admin import ensure_topics
    from streams.kafka.security import security_from
    from streams.worker.app import SESSION_TIMEOUT_S, SOURCE_TOPICS, build_pipeline
    from streams.worker.membership import hold_data_dir

    config = load_config(config_path)
    loglevel = configured_log_level(os.environ)  # a bad name: one line
    level = log_level(loglevel)
    logging.getLogger("ccpulse").setLevel(level)
    show_status(loglevel)
    d = config.deployment
    web = load_web_config(d.web_config_file)  # a bad file fails here, in one line
    ensure_port_free(d.web_host, d.web_port, "the worker's web port", WEB_PORT_OPTION)
    data_dir_lock = hold_data_dir(d.data_dir)  # held until the process ends
    topics = [d.topic_prefix + t for t in (*SOURCE_TOPICS, DEADLETTER_TOPIC)]
    # a broker that is down is retried for up to 30 s: say so once it takes a while
    waiting = threading.Timer(WAITING_NOTE_S, status, (
        f"waiting for Kafka at {d.broker} (up to {BROKER_WAIT_S:.0f} s)",))
    waiting.daemon = True
    waiting.start()
    try:
        ensure_topics(d.broker, topics, d.partitions, timeout_s=BROKER_WAIT_S,
                      replication_factor=d.replication_factor, security=security_from(d))
    except Exception as exc:
        if isinstance(exc, BrokerError):
            raise
        raise BrokerError(
            f"cannot reach Kafka at {d.broker} ({exc}); start it with `ccpulse kafka start` "
            "or set CCPULSE_BROKER"
        ) from None
    finally:
        waiting.cancel()
    tune_gc()
    pipeline = build_pipeline(config, web)
    _remove_dead_member(d, pipeline.app.conf.id, security_from(d), SESSION_TIMEOUT_S)
    status(f"metrics on {web.scheme}://{d.web_host}:{d.web_port}/metrics (group {d.app_id})")
    status(compiled.state().line())  # e.g. "hot path: compiled with mypyc (12 modules, ...)"

    startup = StartupTransients(verbose=level <= logging.INFO)

    class Worker(faust.Worker):
        def on_setup_root_logger(self, logger: Any, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            collapse_repeats_on(list(logger.handlers))
            for handler in logger.handlers:
                handler.addFilter(startup)

        def _schedule_shutdown(self, signal: Any) -> None:
            # Faust's shutdown waits for the broker (final commit, leave group) and hangs for
            # good when the broker is gone too (a killed demo stops both at once). Records
            # are flushed before every commit, so an exit without the final commit loses
            # nothing: the next owner re-reads from the last commit and drops duplicates.
            watchdog = threading.Timer(SHUTDOWN_GRACE_S, _exit_stuck, args=(signal,))
            watchdog.daemon = True
            watchdog.start()
            super()._schedule_shutdown(signal)

    worker = Worker(pipeline.app, loglevel=loglevel, quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG so it can spin on every record:
    # every library debug call then builds a LogRecord (~40 % of the per-event cost).
    worker.spinner = None
    worker.execute_from_commandline()
    data_dir_lock.close()
    return 0


def _remove_dead_member(d: Any, group: str, security: Any, session_timeout_s: float) -> None:
    """Remove from the group the member the last worker on this data directory was, if it
    did not leave (it crashed): its partitions are then assigned at once, not after its
    session times out (``streams.worker.membership``)."""
    from streams.kafka.admin import remove_group_member
    from streams.worker.membership import previous_member

    member_id = previous_member(d.data_dir, group)
    if member_id is None:
        return
    try:
        removed = remove_group_member(d.broker, group, member_id, security=security)
    except BrokerError as exc:
        status_warning(f"the last worker on this data directory may still be a member of "
                       f"the group ({exc}); its partitions are assigned once its session "
                       f"times out ({session_timeout_s:g} s)")
        return
    if removed:
        status(f"the last worker on this data directory did not leave the group (it was "
               f"killed or crashed); removed it ({member_id}), so its partitions are assigned "
               f"now, not after its {session_timeout_s:g} s session timeout")
