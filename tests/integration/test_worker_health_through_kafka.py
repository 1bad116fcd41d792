"""/readyz, /healthz and /livez through a real broker that is stopped and started again: the
worker stops claiming ready within [health] broker_timeout_seconds, stays alive, and is
ready again once the broker is back; the wallboard says "not live" meanwhile."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from wallboard_browser import browser, needs_browser, open_page, screenshot
from worker_harness import WAIT_TIMEOUT_S, Worker, free_port, wait_for
from worker_harness import get_json as get

BROKER_TIMEOUT_S = 4
CHECK_INTERVAL_S = 1


@needs_browser
def test_not_ready_while_the_broker_is_down_and_ready_again_after(new_local_broker,
                                                                 unique_name, tmp_path):
    broker = new_local_broker()
    broker.start(timeout_s=WAIT_TIMEOUT_S)
    config = tmp_path / "ccpulse.toml"
    config.write_text(f"[health]\nbroker_timeout_seconds = {BROKER_TIMEOUT_S}\n"
                      f"check_interval_seconds = {CHECK_INTERVAL_S}\n"
                      "[wallboard]\nrefresh_seconds = 1\n")
    worker = Worker(broker.bootstrap, unique_name, unique_name + ".", tmp_path / "w",
                    free_port())
    worker.env["CCPULSE_CONFIG"] = str(config)
    try:
        worker.start()  # waits for /healthz 200
        status, body = get(worker.url + "/readyz")
        assert status == 200 and body["checks"] == {
            "assigned": True, "recovered": True, "built": True, "broker": True,
            "consuming": True}
        assert get(worker.url + "/livez")[0] == 200
        with browser() as b:
            page = open_page(b, worker.url + "/wallboard")
            broker.stop()
            stopped = time.monotonic()
            wait_for(lambda: get(worker.url + "/readyz")[0] == 503,
                     "/readyz to answer 503 with the broker stopped", worker)
            took = time.monotonic() - stopped
            # the configured timeout, plus one check and its own timeout
            assert took <= BROKER_TIMEOUT_S + 2 * CHECK_INTERVAL_S + 3, took
            status, body = get(worker.url + "/readyz")
            assert status == 503 and body["checks"]["broker"] is False
            assert any("broker has not answered" in r for r in body["reasons"]), body
            assert get(worker.url + "/healthz")[0] == 503
            assert get(worker.url + "/livez")[0] == 200  # alive: a restart would not help
            page.wait_for_selector("body.down", timeout=WAIT_TIMEOUT_S * 1000)
            banner = page.inner_text("#banner")
            assert banner.startswith("NOT LIVE — the worker is not consuming"), banner
            assert "broker has not answered" in banner
            screenshot(page, "wallboard-broker-down.png", tmp_path)

            # Playwright's sync API runs an event loop in this thread; the broker's readiness
            # check runs one of its own, so it starts from another thread.
            with ThreadPoolExecutor(1) as pool:
                pool.submit(broker.start, timeout_s=WAIT_TIMEOUT_S).result()
            wait_for(lambda: get(worker.url + "/readyz")[0] == 200,
                     "/readyz to answer 200 once the broker is back", worker)
            assert get(worker.url + "/healthz")[0] == 200
            page.wait_for_selector("body:not(.down)", timeout=WAIT_TIMEOUT_S * 1000)
    finally:
        worker.stop()
