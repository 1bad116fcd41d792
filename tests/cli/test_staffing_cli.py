"""``ccpulse staffing``: the what-if table from given numbers or from a worker's live inputs,
and its one-line errors.

The numbers are pyworkforce's scenario (100 contacts per 30 minutes = 200/h, AHT 180 s,
patience 300 s, threshold 20 s): Erlang C at 14 agents SL 88.8 %, Erlang A 91.7 % with
1.4 % abandoning (tests/unit/test_erlang_published.py).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.cli import main
from streams.staffing_cli import parse_rate

TABLE_14 = """\
billing · voice (given numbers): 200.0 contacts/h, AHT 180.0s, 10.00 erlangs, patience 300.0s; \
SL = answered within 20s, target 80%
  agents    C: SL   C: ASA    A: SL   A: ASA A: abandon
      12    64.0%    40.4s    77.2%    11.9s       4.3%
      13    79.6%    17.1s    85.8%     6.9s       2.5%
      14    88.8%     7.8s    91.7%     3.9s       1.4% ◀
      15    94.1%     3.7s    95.4%     2.1s       0.8%
      16    97.1%     1.7s    97.6%     1.1s       0.4%
      17    98.6%     0.8s    98.8%     0.5s       0.2%
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["staffing", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class TestFromGivenNumbers:
    def test_prints_the_table_for_two_fewer_to_three_more_agents(self, capsys):
        code, out, err = run(capsys, "--queue", "billing", "--agents", "14", "--rate", "200/h",
                             "--aht", "180", "--patience", "300", "--threshold", "20")
        assert (code, err) == (0, "")
        assert out == TABLE_14

    def test_without_patience_erlang_a_is_left_blank(self, capsys):
        code, out, _ = run(capsys, "--queue", "billing", "--agents", "14", "--rate", "200/h",
                           "--aht", "180")
        assert code == 0
        assert "patience not known (Erlang A needs abandons, or --patience)" in out
        assert "      14    88.8%     7.8s        –        –          – ◀" in out

    def test_json_carries_the_same_numbers(self, capsys):
        code, out, _ = run(capsys, "--queue", "billing", "--agents", "14", "--rate", "200/h",
                           "--aht", "180", "--patience", "300", "--threshold", "20", "--json")
        doc = json.loads(out)
        assert code == 0
        assert [row["agents"] for row in doc["rows"]] == [12, 13, 14, 15, 16, 17]
        row = doc["rows"][2]
        assert round(row["erlang_a"]["service_level"], 6) == 0.916792
        assert round(row["erlang_a"]["abandon_ratio"], 6) == 0.013984
        assert round(row["erlang_c"]["wait_probability"], 3) == 0.174
        assert doc["traffic_erlangs"] == pytest.approx(10.0)

    @pytest.mark.parametrize(("text", "per_second"),
                             [("0.5", 0.5), ("0.5/s", 0.5), ("3/min", 0.05), ("200/h", 200 / 3600),
                              ("1e-2", 0.01)],
                             ids=["bare", "per-second", "per-minute", "per-hour", "exponent"])
    def test_rate_units(self, text, per_second):
        assert parse_rate(text) == pytest.approx(per_second)

    def test_a_bare_rate_that_swamps_every_row_says_it_was_read_per_second(self, capsys):
        # a user's `--rate 60` for 60 calls an hour: 10,800 erlangs for 6 agents
        code, out, err = run(capsys, "--queue", "billing", "--agents", "6", "--rate", "60",
                             "--aht", "180", "--json")
        assert code == 0 and json.loads(out)["traffic_erlangs"] == pytest.approx(10_800)
        assert err == ("note: --rate 60 is read as contacts a second (216,000/h, 10,800.0 "
                       "erlangs for 4–9 agents); for contacts an hour write --rate 60/h\n")

    @pytest.mark.parametrize("rate", ["60/h", "0.0556", "60/s"],
                             ids=["with-a-unit", "bare-and-plausible", "per-second-said"])
    def test_no_note_for_a_rate_with_a_unit_or_one_the_agents_can_carry(self, capsys, rate):
        code, _, err = run(capsys, "--queue", "billing", "--agents", "14", "--rate", rate,
                           "--aht", "180")
        assert (code, err) == (0, "")

    def test_a_bad_rate_is_a_one_line_usage_error(self, capsys):
        with pytest.raises(SystemExit) as done:
            main(["staffing", "--queue", "q", "--agents", "3", "--rate", "fast", "--aht", "9"])
        assert done.value.code == 2
        assert capsys.readouterr().err == (
            "Error: argument --rate: a rate is a number of contacts per second, or per minute "
            "or hour with /min or /h (e.g. 200/h), got 'fast'. Try 'ccpulse staffing --help'.\n")


def live_entry(channel: str = "voice") -> dict:
    return {"queue": "billing", "channel": channel, "threshold_seconds": 20.0,
            "target_ratio": 0.8, "agents_staffed": 13, "arrival_rate_per_second": 200 / 3600,
            "aht_seconds": 180.0, "patience_seconds": 300.0,
            "required_agents": {"erlang_c": 14, "erlang_a": 13}, "agents": 13, "rows": []}


@contextmanager
def fake_worker(entries: list[dict], status: int = 200) -> Iterator[str]:
    asked: list[str] = []
    logins: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            logins.append(self.headers.get("Authorization"))
            body = json.dumps({"queues": entries}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
    fake_worker.asked = asked  # type: ignore[attr-defined]
    fake_worker.logins = logins  # type: ignore[attr-defined]


class TestFromALiveWorker:
    def test_uses_the_worker_s_live_rate_aht_and_patience(self, capsys):
        with fake_worker([live_entry()]) as url:
            code, out, err = run(capsys, "--queue", "billing", "--agents", "14", "--url", url)
        assert (code, err) == (0, "")
        assert out == TABLE_14.replace("(given numbers)", f"(live from {url})")
        assert fake_worker.asked == ["/staffing.json?queue=billing&agents=14"]  # type: ignore

    def test_a_login_in_the_url_is_sent_as_basic_auth_and_never_printed(self, capsys):
        with fake_worker([live_entry()]) as url:
            with_login = url.replace("http://", "http://lead:s%40cret@")
            code, out, err = run(capsys, "--queue", "billing", "--agents", "14", "--url",
                                 with_login)
        assert (code, err) == (0, "")
        assert fake_worker.logins == ["Basic bGVhZDpzQGNyZXQ="]  # type: ignore[attr-defined]
        assert "cret" not in out and out.startswith(f"billing · voice (live from {url}): ")

    def test_a_given_number_replaces_the_live_one(self, capsys):
        with fake_worker([live_entry()]) as url:
            code, out, _ = run(capsys, "--queue", "billing", "--agents", "14", "--url", url,
                               "--aht", "150")
        assert code == 0
        assert "AHT 150.0s, 8.33 erlangs, patience 300.0s" in out

    @pytest.mark.parametrize(("entries", "status", "message"), [
        ([], 200, "Error: the worker at {url} has no contacts for queue 'billing'; check "
                  "--queue/--channel (the worker's queues are on /staffing), or give both "
                  "--rate and --aht to compute without a worker\n"),
        ([live_entry("voice"), live_entry("chat")], 200,
         "Error: queue 'billing' has traffic on voice and chat; pick one with --channel\n"),
        ([live_entry()], 401, "Error: the worker at {url} answered HTTP 401 for "
                              "/staffing.json; check --url (a worker behind a password needs "
                              "it in the URL), or give both --rate and --aht to compute "
                              "without a worker\n"),
        ([{**live_entry(), "aht_seconds": None, "reason": "no AHT yet"}], 200,
         "Error: queue 'billing' (voice) has no live estimate yet (no AHT yet); give --aht "
         "and --rate\n"),
    ], ids=["unknown-queue", "two-channels", "password", "no-aht-yet"])
    def test_errors_are_one_line_with_what_to_do(self, capsys, entries, status, message):
        with fake_worker(entries, status) as url:
            code, out, err = run(capsys, "--queue", "billing", "--agents", "14", "--url", url)
        assert (code, out) == (1, "")
        assert err == message.format(url=url)

    def test_no_worker_says_how_to_start_one_or_go_offline(self, capsys):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        code, out, err = run(capsys, "--queue", "billing", "--agents", "14", "--url",
                             f"http://127.0.0.1:{port}")
        assert (code, out) == (1, "")
        assert err == (f"Error: cannot reach a worker at http://127.0.0.1:{port} ([Errno 111] "
                       "Connection refused); start one with `ccpulse worker` or point --url at "
                       "it, or give both --rate and --aht to compute without a worker\n")
