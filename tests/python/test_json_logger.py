"""Tests of templates/json_logger.py, the JSON logging module of gunicorn.conf.py.

The module is tested the way the charm ships it (DJANGO.md 7.1): its text, without the
final newline, is put into a gunicorn.conf.py after an empty line and followed by
`logger_class = GunicornJsonLogger`, the option lines and the `post_fork` hook; gunicorn's
own config loader reads that file. Run with `tests/python/run`.
"""

import ast
import calendar
import contextlib
import datetime
import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import traceback
import types
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gunicorn import glogging
from gunicorn.app.base import Application
from gunicorn.config import Config
from gunicorn.http import RequestParser, wsgi
from gunicorn.workers.base import Worker
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

MODULE_PATH = Path(__file__).resolve().parents[2] / "templates" / "json_logger.py"

# DJANGO.md 7.1, verbatim.
EXAMPLE_ACCESS_LINE = (
    '{"timestamp": "2025-01-02T03:04:05.678Z", "severityText": "INFO", "body": "10.1.0.1 '
    '- - [02/Jan/2025:03:04:05 +0000] \\"GET /admin/?a=1 HTTP/1.1\\" 200 512 \\"-\\" '
    '\\"curl/8.5.0\\"", "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": '
    '"00f067aa0ba902b7", "attributes": {"logger.name": "gunicorn.access", '
    '"http.request.method": "GET", "url.path": "/admin/", "http.response.status_code": '
    '200, "duration_ms": 12.345, "url.query": "a=1", "client.address": "10.1.0.1"}}'
)
EXAMPLE_TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
EXAMPLE_SPAN_ID = 0x00F067AA0BA902B7
EXAMPLE_CLOCK = calendar.timegm((2025, 1, 2, 3, 4, 5)) + 0.678

TRACING_ACCESS_LOG_FORMAT = (
    "access_log_format = '%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" "
    "\"%(a)s\" %({x-request-id}o)s'"
)
JSON_POST_FORK = [
    "def post_fork(server, worker):",
    "    _original_wsgi = worker.app.wsgi",
    "",
    "    def _patched_wsgi():",
    "        return OtelSpanMiddleware(_original_wsgi())",
    "",
    "    worker.app.wsgi = _patched_wsgi",
]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# gunicorn 25.1 and newer serve a control socket, by default under $HOME, which is not
# writable for the app's user (`_daemon_`, home `/nonexistent`): the conf names a path.
CONTROL_SOCKET = "/tmp/gunicorn.ctl"
# The most a line may have, its newline included (Pebble reads lines of 4096 bytes).
MAX_LINE_BYTES = 4096
CUT_MARK = "...[cut]"


def module_text():
    """The module as the charm inserts it: without its final newline."""
    text = MODULE_PATH.read_text()
    assert text.endswith("\n") and not text.endswith("\n\n")
    return text[:-1]


def gunicorn_conf(
    chdir,
    bind="0.0.0.0:8000",
    accesslog="'-'",
    errorlog="'-'",
    statsd_host="localhost:9125",
    control_socket=CONTROL_SOCKET,
    options=(),
):
    """gunicorn.conf.py with JSON logging, laid out as DJANGO.md 7.1 gives it.

    `control_socket=None` leaves out the control socket line (to show what it is for).
    """
    lines = [
        f"bind = [{bind!r}]",
        f"chdir = {str(chdir)!r}",
        f"accesslog = {accesslog}",
        f"errorlog = {errorlog}",
        f"statsd_host = {statsd_host!r}",
        *([] if control_socket is None else [f"control_socket = {control_socket!r}"]),
        *options,
    ]
    return (
        "\n"
        + module_text()
        + "\nlogger_class = GunicornJsonLogger\n"
        + "\n".join(lines)
        + "\n\n"
        + "\n".join(JSON_POST_FORK)
        + "\n"
    )


class _ConfigLoader:
    """Just enough of a gunicorn Application to run its real config-file loader."""

    get_config_from_filename = Application.get_config_from_filename
    load_config_from_module_name_or_filename = (
        Application.load_config_from_module_name_or_filename
    )

    def __init__(self):
        self.cfg = Config()


@pytest.fixture
def utc(monkeypatch):
    """Local time is UTC (gunicorn's `%(t)s` is in local time)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def statsd_sink():
    """A UDP socket that receives statsd packets and is never read.

    Without a listener, gunicorn's statsd client gets "connection refused" on its next
    send and logs a warning, which would add lines to the error log under test.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        yield "127.0.0.1:%d" % sink.getsockname()[1]


@pytest.fixture
def load(tmp_path, utc, statsd_sink):
    """Write a gunicorn.conf.py, read it with gunicorn's loader: (namespace, cfg)."""

    def _load(**kwargs):
        kwargs.setdefault("statsd_host", statsd_sink)
        path = tmp_path / "gunicorn.conf.py"
        path.write_text(gunicorn_conf(chdir=tmp_path, **kwargs))
        loader = _ConfigLoader()
        namespace = loader.load_config_from_module_name_or_filename(str(path))
        return namespace, loader.cfg

    return _load


class Captured:
    """A logger whose access and error streams are captured in memory."""

    def __init__(self, cfg, clock=None):
        self.cfg = cfg
        self.logger = cfg.logger_class(cfg)
        if clock is not None:
            self.logger.json_log_clock = clock
        self.access = io.StringIO()
        self.error = io.StringIO()
        for log, stream in (
            (self.logger.access_log, self.access),
            (self.logger.error_log, self.error),
        ):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):
                    handler.setStream(stream)

    @staticmethod
    def _objects(stream):
        text = stream.getvalue()
        assert text.endswith("\n")
        lines = text[:-1].split("\n")
        return lines, [json.loads(line) for line in lines]

    def access_lines(self):
        return self._objects(self.access)

    def error_lines(self):
        return self._objects(self.error)

    def formatter(self, log):
        return next(h for h in log.handlers if getattr(h, "_gunicorn", False)).formatter


def assert_lines_fit(text):
    """Every line of a log stream is ASCII JSON, at most MAX_LINE_BYTES with its newline."""
    data = text.encode("utf-8")
    assert data.isascii()
    assert data.endswith(b"\n")
    for raw in data[:-1].split(b"\n"):
        assert len(raw) + 1 <= MAX_LINE_BYTES, len(raw)
        json.loads(raw)


def assert_cut_from(original, value):
    """`value` is the start of `original` followed by the cut mark."""
    assert value.endswith(CUT_MARK), value[-40:]
    kept = value[: -len(CUT_MARK)]
    assert len(kept) < len(original)
    assert original.startswith(kept)


@pytest.fixture
def captured(load):
    def _captured(clock=None, **kwargs):
        namespace, cfg = load(**kwargs)
        return namespace, Captured(cfg, clock)

    return _captured


def fake_request(headers=()):
    return types.SimpleNamespace(headers=list(headers))


def fake_response(status="200 OK", sent=512, headers=()):
    return types.SimpleNamespace(status=status, sent=sent, headers=list(headers))


def fake_environ(path="/admin/", query="a=1", remote="10.1.0.1", **extra):
    raw_uri = path + ("?" + query if query else "")
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": raw_uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_USER_AGENT": "curl/8.5.0",
    }
    if remote is not None:
        environ["REMOTE_ADDR"] = remote
    environ.update(extra)
    return environ


def valid_span(trace_id=EXAMPLE_TRACE_ID, span_id=EXAMPLE_SPAN_ID):
    return NonRecordingSpan(
        SpanContext(
            trace_id=trace_id,
            span_id=span_id,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )


def run_through_middleware(namespace, environ, span=None):
    """Serve one request through OtelSpanMiddleware with `span` current in the app."""

    def app(environ, start_response):
        if span is None:
            start_response("200 OK", [])
        else:
            with trace.use_span(span):
                start_response("200 OK", [])
        return [b"ok"]

    calls = []
    body = namespace["OtelSpanMiddleware"](app)(
        environ, lambda status, headers, *exc_info: calls.append(status)
    )
    assert body == [b"ok"] and calls == ["200 OK"]


# The module as a piece of gunicorn.conf.py ----------------------------------------------


def module_level_statements(body):
    """The statements run when the module loads (not those inside functions/classes)."""
    for node in body:
        yield node
        if isinstance(node, (ast.Try, ast.If)):
            for block in ("body", "orelse", "finalbody"):
                yield from module_level_statements(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from module_level_statements(handler.body)


def test_module_is_self_contained_config_text():
    text = MODULE_PATH.read_text()
    settings = set(Config().settings)
    top_level = set()
    for node in module_level_statements(ast.parse(text).body):
        if isinstance(node, ast.ImportFrom):
            assert not node.level, "relative import"
            assert node.module != "__future__", "the file may start with other imports"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                module = getattr(node, "module", None) or alias.name
                # Standard library and gunicorn only: OpenTelemetry is optional.
                assert module.split(".")[0] in {
                    "contextvars", "json", "logging", "re", "time", "traceback", "gunicorn",
                }, module
                top_level.add(alias.asname or alias.name)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top_level.add(node.name)
        elif isinstance(node, ast.Assign):
            top_level.update(t.id for t in node.targets if isinstance(t, ast.Name))
    assert "_JsonLoggerBase" in top_level
    # gunicorn applies every top-level name of its config file that is a setting, and
    # the tracing imports that may precede the module must keep their names.
    public = {name for name in top_level if not name.startswith("_")}
    assert public == {"GunicornJsonLogger", "OtelSpanMiddleware"}
    assert not top_level & settings
    assert not top_level & {"trace", "OTLPSpanExporter", "TracerProvider",
                            "BatchSpanProcessor", "post_fork", "logger_class"}
    assert "from opentelemetry import trace as _api" in text


def test_conf_file_layout_matches_the_spec(tmp_path):
    text = gunicorn_conf(chdir="/django/app")
    expected = (
        "\n<M>\nlogger_class = GunicornJsonLogger\nbind = ['0.0.0.0:8000']\n"
        "chdir = '/django/app'\naccesslog = '-'\nerrorlog = '-'\n"
        "statsd_host = 'localhost:9125'\ncontrol_socket = '/tmp/gunicorn.ctl'\n"
        "\ndef post_fork(server, worker):\n"
        "    _original_wsgi = worker.app.wsgi\n\n    def _patched_wsgi():\n"
        "        return OtelSpanMiddleware(_original_wsgi())\n\n"
        "    worker.app.wsgi = _patched_wsgi\n"
    )
    assert text == expected.replace("<M>", module_text())


def test_gunicorn_loads_the_conf_and_uses_the_logger(load):
    namespace, cfg = load(statsd_host="localhost:9125", options=["workers = 3"])
    logger_class = cfg.logger_class
    assert logger_class is namespace["GunicornJsonLogger"]
    assert issubclass(logger_class, glogging.Logger)
    assert cfg.statsd_host == ("localhost", 9125)
    assert cfg.workers == 3
    assert cfg.post_fork is namespace["post_fork"]
    if "control_socket" in cfg.settings:  # gunicorn 25.1 and newer
        assert cfg.control_socket == "/tmp/gunicorn.ctl"


def test_module_loads_and_logs_without_opentelemetry(monkeypatch, captured):
    # A None entry in sys.modules makes the import fail, as if not installed.
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    namespace, log = captured(clock=lambda: EXAMPLE_CLOCK)
    environ = fake_environ()
    with trace.use_span(valid_span()):
        run_through_middleware(namespace, environ, span=valid_span())
        log.logger.info("no tracing here")
    log.logger.access(fake_response(), fake_request(), environ,
                      datetime.timedelta(microseconds=12345))
    (_,), (access,) = log.access_lines()
    (_,), (error,) = log.error_lines()
    assert "traceId" not in access and "spanId" not in access
    assert "traceId" not in error and error["body"] == "no tracing here"


# Access lines -------------------------------------------------------------------------


def test_example_access_line_of_the_spec(captured):
    namespace, log = captured(clock=lambda: EXAMPLE_CLOCK)
    environ = fake_environ()
    run_through_middleware(namespace, environ, span=valid_span())
    log.logger.access(
        fake_response(), fake_request([("USER-AGENT", "curl/8.5.0")]), environ,
        datetime.timedelta(microseconds=12345),
    )
    (line,), _ = log.access_lines()
    assert line == EXAMPLE_ACCESS_LINE


def test_access_line_without_query_span_or_client(captured):
    namespace, log = captured(clock=lambda: EXAMPLE_CLOCK + 1.5)
    environ = fake_environ(path="/health", query="", remote=None)
    run_through_middleware(namespace, environ, span=None)
    log.logger.access(fake_response("404 Not Found", sent=None), fake_request(),
                      environ, datetime.timedelta(seconds=2, microseconds=1))
    (_,), (line,) = log.access_lines()
    assert list(line) == ["timestamp", "severityText", "body", "attributes"]
    assert line["timestamp"] == "2025-01-02T03:04:07.178Z"
    assert line["severityText"] == "INFO"
    assert line["body"] == (
        '- - - [02/Jan/2025:03:04:07 +0000] "GET /health HTTP/1.1" 404 - "-" "curl/8.5.0"'
    )
    assert line["attributes"] == {
        "logger.name": "gunicorn.access",
        "http.request.method": "GET",
        "url.path": "/health",
        "http.response.status_code": 404,
        "duration_ms": 2000.001,
    }
    assert list(line["attributes"]) == [
        "logger.name", "http.request.method", "url.path",
        "http.response.status_code", "duration_ms",
    ]


def test_access_line_with_request_id_and_tracing_format(captured):
    namespace, log = captured(clock=lambda: EXAMPLE_CLOCK,
                              options=[TRACING_ACCESS_LOG_FORMAT])
    environ = fake_environ(query="q=django&page=2")
    run_through_middleware(namespace, environ, span=valid_span(0xABC, 0xDEF))
    log.logger.access(
        fake_response("201 Created", sent=7, headers=[("X-Request-ID", "resp-42")]),
        fake_request([("X-REQUEST-ID", "req-7")]),
        environ,
        datetime.timedelta(milliseconds=3, microseconds=456),
    )
    (_,), (line,) = log.access_lines()
    assert list(line) == ["timestamp", "severityText", "body", "traceId", "spanId",
                          "attributes"]
    assert line["traceId"] == "00000000000000000000000000000abc"
    assert line["spanId"] == "0000000000000def"
    assert line["body"].endswith('"GET /admin/?q=django&page=2 HTTP/1.1" 201 7 "-" '
                                 '"curl/8.5.0" resp-42')
    assert line["attributes"] == {
        "logger.name": "gunicorn.access",
        "http.request.method": "GET",
        "url.path": "/admin/",
        "http.response.status_code": 201,
        "duration_ms": 3.456,
        "url.query": "q=django&page=2",
        "client.address": "10.1.0.1",
        "http.request.header.x-request-id": "req-7",
    }
    assert list(line["attributes"])[-3:] == [
        "url.query", "client.address", "http.request.header.x-request-id",
    ]


def test_access_status_that_is_not_numeric_stays_a_string(captured):
    _, log = captured()
    try:
        log.logger.access(fake_response("weird"), fake_request(), fake_environ(),
                          datetime.timedelta(0))
    except ValueError:
        # gunicorn's statsd logger cannot count such a status (after the line is
        # written); without JSON logging it fails the same way.
        pass
    (_,), (line,) = log.access_lines()
    assert line["attributes"]["http.response.status_code"] == "weird"
    assert line["attributes"]["duration_ms"] == 0


def test_access_body_falls_back_when_the_format_fails(captured):
    _, log = captured(options=["access_log_format = '%(h)d %(s)s'"])
    log.logger.access(fake_response(), fake_request(), fake_environ(),
                      datetime.timedelta(microseconds=1))
    (_,), (line,) = log.access_lines()
    assert line["body"] == '10.1.0.1 - "GET /admin/?a=1 HTTP/1.1" 200'
    assert line["attributes"]["duration_ms"] == 0.001


def test_values_that_are_not_json_types_become_strings(captured):
    class Method:
        def __str__(self):
            return "PATCH"

    _, log = captured()
    environ = fake_environ(REQUEST_METHOD=Method())
    log.logger.access(fake_response(), fake_request(), environ, datetime.timedelta(0))
    (_,), (line,) = log.access_lines()
    assert line["attributes"]["http.request.method"] == "PATCH"


def test_access_line_not_written_without_access_log(captured):
    _, log = captured(accesslog="None")
    log.logger.access(fake_response(), fake_request(), fake_environ(),
                      datetime.timedelta(0))
    assert log.access.getvalue() == ""


def test_other_records_of_the_access_log_are_json_too(captured):
    _, log = captured()
    log.logger.access_log.warning("not about a request: %d%%", 5)
    (_,), (line,) = log.access_lines()
    assert list(line) == ["timestamp", "severityText", "body", "attributes"]
    assert line["severityText"] == "WARN"
    assert line["body"] == "not about a request: 5%"
    assert line["attributes"] == {"logger.name": "gunicorn.access"}


def test_statsd_metrics_are_still_sent(captured):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as statsd:
        statsd.bind(("127.0.0.1", 0))
        statsd.settimeout(5)
        port = statsd.getsockname()[1]
        _, log = captured(statsd_host=f"127.0.0.1:{port}")
        log.logger.access(fake_response("503 Service Unavailable"), fake_request(),
                          fake_environ(), datetime.timedelta(microseconds=12345))
        packets = {statsd.recv(512).decode() for _ in range(3)}
    assert packets == {
        "gunicorn.request.duration:12.345|ms",
        "gunicorn.requests:1|c|@1.0",
        "gunicorn.request.status.503:1|c|@1.0",
    }


# Error lines --------------------------------------------------------------------------


def test_error_lines_levels_and_body(captured):
    _, log = captured(options=["loglevel = 'debug'"])
    log.logger.debug("debugging %s", "on")
    log.logger.info("Booting worker with pid: %s", 42)
    log.logger.warning("Worker %d was sent SIGTERM!", 7)
    log.logger.error("Socket error processing request.")
    log.logger.critical("WORKER TIMEOUT (pid:%s)", 9)
    raw, lines = log.error_lines()
    assert [line["severityText"] for line in lines] == [
        "DEBUG", "INFO", "WARN", "ERROR", "FATAL",
    ]
    assert [line["body"] for line in lines] == [
        "debugging on", "Booting worker with pid: 42", "Worker 7 was sent SIGTERM!",
        "Socket error processing request.", "WORKER TIMEOUT (pid:9)",
    ]
    for text, line in zip(raw, lines):
        assert "\n" not in text
        assert list(line) == ["timestamp", "severityText", "body", "attributes"]
        assert TIMESTAMP.match(line["timestamp"])
        assert line["attributes"] == {"logger.name": "gunicorn.error"}


def test_error_line_with_exception(captured):
    class ConfigProblem(ValueError):
        pass

    _, log = captured()
    try:
        raise ConfigProblem("bad value: 3")
    except ConfigProblem:
        log.logger.exception("Exception in worker process")
    (text,), (line,) = log.error_lines()
    assert "\n" not in text
    assert list(line) == ["timestamp", "severityText", "body", "attributes"]
    assert line["severityText"] == "ERROR"
    assert line["body"] == "Exception in worker process"
    attributes = line["attributes"]
    assert list(attributes) == ["logger.name", "exception.type", "exception.message",
                                "exception.stacktrace"]
    assert attributes["logger.name"] == "gunicorn.error"
    assert attributes["exception.type"] == (
        "test_error_line_with_exception.<locals>.ConfigProblem"
    )
    assert attributes["exception.message"] == "bad value: 3"
    stacktrace = attributes["exception.stacktrace"]
    assert stacktrace.startswith("Traceback (most recent call last):\n")
    assert 'raise ConfigProblem("bad value: 3")' in stacktrace
    assert stacktrace.endswith("ConfigProblem: bad value: 3\n")


def test_error_line_carries_the_current_span(captured):
    _, log = captured()
    with trace.use_span(valid_span()):
        log.logger.info("inside a span")
    log.logger.info("outside")
    _, (inside, outside) = log.error_lines()
    assert list(inside) == ["timestamp", "severityText", "body", "traceId", "spanId",
                            "attributes"]
    assert inside["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert inside["spanId"] == "00f067aa0ba902b7"
    assert "traceId" not in outside


def test_error_timestamp_is_utc_with_truncated_milliseconds(captured):
    _, log = captured()
    formatter = next(h for h in log.logger.error_log.handlers
                     if getattr(h, "_gunicorn", False)).formatter
    record = logging.LogRecord("gunicorn.error", logging.WARNING, __file__, 1,
                               "x", None, None)
    for created, expected in (
        (EXAMPLE_CLOCK, "2025-01-02T03:04:05.678Z"),
        (EXAMPLE_CLOCK + 0.0009, "2025-01-02T03:04:05.678Z"),
        (calendar.timegm((2024, 12, 31, 23, 59, 59)) + 0.9999, "2024-12-31T23:59:59.999Z"),
        (calendar.timegm((2025, 6, 1, 0, 0, 0)), "2025-06-01T00:00:00.000Z"),
    ):
        record.created = created
        assert json.loads(formatter.format(record))["timestamp"] == expected


# Lines of at most 4096 bytes ---------------------------------------------------------


def ping(depth):
    if depth == 0:
        raise LookupError("the bottom")
    return pong(depth - 1)


def pong(depth):
    # ping and pong alternate, so that traceback does not fold the frames into
    # "[Previous line repeated N more times]".
    return ping(depth)


def log_long_stack_trace(logger, *args):
    """logger.exception(*args) about an exception with a stack trace over 20 KiB."""
    try:
        ping(100)
    except LookupError:
        stacktrace = traceback.format_exc()
        logger.exception(*args)
    assert len(stacktrace) > 20 * 1024
    return stacktrace


def long_message():
    """A 20 KiB message with characters JSON escapes (quotes, controls, non-ASCII)."""
    text = "".join(
        f'line {i}: "quoted", back\\slash, tab\t, naïve €\n' for i in range(600)
    )
    assert len(text) > 20 * 1024
    return text


def test_error_line_with_a_20_kib_stack_trace_is_one_cut_line(captured):
    _, log = captured()
    stacktrace = log_long_stack_trace(log.logger, "Exception in worker process")
    assert_lines_fit(log.error.getvalue())
    (text,), (line,) = log.error_lines()
    # Cut by what is too much, not more (an escape may leave a few bytes unused).
    assert len(text) + 1 > MAX_LINE_BYTES - 12
    assert line["body"] == "Exception in worker process"
    attributes = line["attributes"]
    assert list(attributes) == ["logger.name", "exception.type", "exception.message",
                                "exception.stacktrace"]
    assert attributes["exception.type"] == "LookupError"
    assert attributes["exception.message"] == "the bottom"
    assert_cut_from(stacktrace, attributes["exception.stacktrace"])


def test_error_line_with_a_20_kib_message_is_one_cut_line(captured):
    _, log = captured()
    message = long_message()
    log.logger.error("%s", message)
    assert_lines_fit(log.error.getvalue())
    (text,), (line,) = log.error_lines()
    assert len(text) + 1 > MAX_LINE_BYTES - 12
    assert_cut_from(message, line["body"])
    assert line["attributes"] == {"logger.name": "gunicorn.error"}


def test_cut_is_measured_on_the_encoded_text(captured):
    # 1000 characters, 2000 bytes in UTF-8, but 6000 in the JSON text (\u00e9 each);
    # emojis are 12 (a surrogate pair) and must not be split.
    _, log = captured()
    for message in ("é" * 1000, "\U0001F600" * 400, '"' * 3000):
        log.logger.warning("%s", message)
    assert_lines_fit(log.error.getvalue())
    texts, lines = log.error_lines()
    for message, text, line in zip(("é" * 1000, "\U0001F600" * 400, '"' * 3000),
                                   texts, lines):
        assert_cut_from(message, line["body"])
        assert len(text) + 1 > MAX_LINE_BYTES - 12


def test_line_of_exactly_4096_bytes_is_unchanged_one_more_is_cut(captured):
    _, log = captured()
    log.logger.info("%s", "a")  # (gunicorn's statsd logger drops empty messages)
    (short,), _ = log.error_lines()
    longest = "a" * (MAX_LINE_BYTES - len(short))
    log.logger.info("%s", longest)
    log.logger.info("%s", longest + "b")
    sizes = [len(raw) + 1 for raw in log.error.getvalue().encode().split(b"\n")[:-1]]
    # One byte too many: the last 9 characters give way to the 8 of the mark.
    assert sizes == [len(short) + 1, MAX_LINE_BYTES, MAX_LINE_BYTES]
    _, (_, whole, cut) = log.error_lines()
    assert whole["body"] == longest
    assert_cut_from(longest + "b", cut["body"])


def test_message_is_cut_before_the_stack_trace(captured):
    _, log = captured()
    message = long_message()
    stacktrace = log_long_stack_trace(log.logger, "%s", message)
    assert_lines_fit(log.error.getvalue())
    (text,), (line,) = log.error_lines()
    assert len(text) + 1 > MAX_LINE_BYTES - 12
    # The message keeps about 1 KiB of JSON text, the stack trace gets the rest.
    body = line["body"]
    assert_cut_from(message, body)
    assert MAX_LINE_BYTES // 4 - 12 < len(json.dumps(body)) - 2 <= MAX_LINE_BYTES // 4
    assert_cut_from(stacktrace, line["attributes"]["exception.stacktrace"])
    assert len(line["attributes"]["exception.stacktrace"]) > 2000
    assert line["attributes"]["exception.message"] == "the bottom"


def test_access_line_with_long_url_and_header_is_cut(captured):
    _, log = captured(options=[TRACING_ACCESS_LOG_FORMAT])
    path, query, request_id = "/" + "p" * 3000, "q=" + "x" * 3000, "r" * 5000
    log.logger.access(fake_response(), fake_request([("X-Request-ID", request_id)]),
                      fake_environ(path=path, query=query), datetime.timedelta(0))
    assert_lines_fit(log.access.getvalue())
    _, (line,) = log.access_lines()
    attributes = line["attributes"]
    assert line["body"].startswith("10.1.0.1 - - [")
    assert line["body"].endswith(CUT_MARK)
    for key, original in (("url.path", path), ("url.query", query),
                          ("http.request.header.x-request-id", request_id)):
        if attributes[key] != original:
            assert_cut_from(original, attributes[key])
    assert attributes["http.request.header.x-request-id"] != request_id
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.response.status_code"] == 200
    assert attributes["duration_ms"] == 0


def test_record_with_huge_non_message_parts_still_fits(captured, capsys):
    _, log = captured()
    # An integer status of 4000 digits (json.dumps would write all of them) ...
    try:
        log.logger.access(fake_response("5" * 4000 + " Odd"), fake_request(),
                          fake_environ(), datetime.timedelta(0))
    except ValueError:
        pass  # the statsd logger's own complaint (see the "weird" status test)
    assert_lines_fit(log.access.getvalue())
    _, (line,) = log.access_lines()
    assert_cut_from("5" * 4000, str(line["attributes"]["http.response.status_code"]))
    # ... and a record whose logger name, level name and message are all huge.
    record = logging.LogRecord("n" * 10000, logging.ERROR, __file__, 1, "m" * 10000,
                               None, None)
    record.levelname = "L" * 10000
    text = log.formatter(log.logger.error_log).format(record)
    assert len(text) + 1 <= MAX_LINE_BYTES
    line = json.loads(text)
    assert_cut_from("m" * 10000, line["body"])
    assert_cut_from("L" * 10000, line["severityText"])
    assert_cut_from("n" * 10000, line["attributes"]["logger.name"])
    assert capsys.readouterr().err == ""


def test_logger_never_raises(captured, capsys):
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no text")

    _, log = captured()
    try:
        raise Unprintable()
    except Unprintable:
        log.logger.exception("broken exception")
    log.logger.error("%d", "not a number")  # a message that cannot be formatted
    formatter = log.formatter(log.logger.error_log)
    record = logging.LogRecord("gunicorn.error", logging.INFO, __file__, 1, "x",
                               None, None)
    record.created = "not a time"
    log.error.write(formatter.format(record) + "\n")
    assert_lines_fit(log.error.getvalue())
    _, (broken, unformatted, failed) = log.error_lines()
    assert broken["body"] == "broken exception"
    assert broken["attributes"]["exception.type"].endswith("Unprintable")
    assert unformatted["body"] == "%d"
    assert failed["body"].startswith("log record not formattable: ")
    assert TIMESTAMP.match(failed["timestamp"])
    assert capsys.readouterr().err == ""


# gunicorn's own responses ------------------------------------------------------------


def test_url_path_of_a_response_that_gunicorn_writes_itself(captured):
    """Worker.handle_error, as after a worker timeout, with gunicorn's real objects."""
    _, log = captured()
    seen = []
    access = log.logger.access

    def spy(resp, req, environ, request_time):
        seen.append(dict(environ))
        return access(resp, req, environ, request_time)

    log.logger.access = spy
    worker = Worker(0, os.getpid(), [], None, 30, log.cfg, log.logger)
    server, client = socket.socketpair()
    try:
        client.sendall(b"GET /caf%C3%A9/menu?day=1 HTTP/1.1\r\nHost: example.com\r\n"
                       b"X-Request-ID: req-9\r\nUser-Agent: curl/8.5.0\r\n\r\n")
        address = ("10.1.0.1", 40000)
        req = next(RequestParser(log.cfg, server, address))
        try:
            # What a worker aborted by the arbiter at its timeout raises (handle_abort).
            raise SystemExit(1)
        except SystemExit as exc:
            worker.handle_error(req, server, address, exc)
        client.settimeout(10)
        assert client.recv(65536).startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        # What the application would have seen as PATH_INFO for the same request.
        _, app_environ = wsgi.create(req, server, address, ("127.0.0.1", 8000), log.cfg)
    finally:
        server.close()
        client.close()
        worker.tmp.close()
    (environ,) = seen
    assert "PATH_INFO" not in environ
    assert environ["RAW_URI"] == "/caf%C3%A9/menu?day=1"
    (_,), (line,) = log.access_lines()
    assert '"GET /caf%C3%A9/menu?day=1 HTTP/1.1" 500 ' in line["body"]
    attributes = line["attributes"]
    assert attributes["url.path"] == "/caf\xc3\xa9/menu" == app_environ["PATH_INFO"]
    assert attributes["url.query"] == "day=1"
    assert attributes["http.response.status_code"] == 500
    assert attributes["http.request.method"] == "GET"
    assert attributes["client.address"] == "10.1.0.1"
    assert attributes["http.request.header.x-request-id"] == "req-9"


@pytest.mark.parametrize(
    "raw_uri, path",
    [
        ("/admin/?a=1", "/admin/"),
        ("/a%20b/c#top", "/a b/c"),
        ("//double//slash?x", "//double//slash"),
        ("http://example.com:8000/via/proxy?x=1", "/via/proxy"),
        ("http://example.com", ""),
        ("*", "*"),
        ("", ""),
    ],
)
def test_url_path_from_the_request_target_without_path_info(captured, raw_uri, path):
    _, log = captured()
    environ = fake_environ()
    del environ["PATH_INFO"]
    environ["RAW_URI"] = raw_uri
    log.logger.access(fake_response("500 Internal Server Error"), fake_request(),
                      environ, datetime.timedelta(0))
    (_,), (line,) = log.access_lines()
    assert line["attributes"]["url.path"] == path


# OtelSpanMiddleware -------------------------------------------------------------------


def test_middleware_ignores_invalid_spans(load):
    namespace, _ = load()
    environ = fake_environ()
    run_through_middleware(namespace, environ, span=trace.INVALID_SPAN)
    assert "otel.trace_id" not in environ and "otel.span_id" not in environ


def test_middleware_uses_a_span_left_by_an_instrumentation(load):
    namespace, _ = load()
    environ = fake_environ()

    def django_like_app(environ, start_response):
        # The Django instrumentation keeps its span in request.META (the environ) and
        # detaches it before the response is started.
        environ["opentelemetry-instrumentor-django.span_key"] = valid_span(0x1, 0x2)
        start_response("200 OK", [])
        return []

    namespace["OtelSpanMiddleware"](django_like_app)(environ, lambda *a: None)
    assert environ["otel.trace_id"] == "0" * 31 + "1"
    assert environ["otel.span_id"] == "0" * 15 + "2"


def test_middleware_prefers_the_span_current_at_start_response(load):
    namespace, _ = load()
    environ = fake_environ()

    def app(environ, start_response):
        environ["opentelemetry-instrumentor-django.span_key"] = valid_span(0x1, 0x2)
        with trace.use_span(valid_span(0x3, 0x4)):
            start_response("500 Internal Server Error", [], ("exc", "info", None))
        return iter(())

    received = []
    namespace["OtelSpanMiddleware"](app)(environ, lambda *a: received.append(a))
    assert received == [("500 Internal Server Error", [], ("exc", "info", None))]
    assert environ["otel.span_id"] == "0" * 15 + "4"


# Real gunicorn ------------------------------------------------------------------------

APP = textwrap.dedent(
    """
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    SPAN = NonRecordingSpan(SpanContext(
        trace_id=0x4bf92f3577b34da6a3ce929d0e0e4736, span_id=0x00f067aa0ba902b7,
        is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))

    def application(environ, start_response):
        with trace.use_span(SPAN):
            start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]
    """
)


def write_app(tmp_path, app=APP, **conf):
    (tmp_path / "app.py").write_text(app)
    conf_path = tmp_path / "gunicorn.conf.py"
    conf_path.write_text(gunicorn_conf(chdir=tmp_path, **conf))
    return conf_path


def test_conf_places_the_control_socket_after_statsd_host():
    lines = gunicorn_conf(chdir="/django/app", options=["workers = 4", "timeout = 30"])
    lines = lines.split("\n")
    start = lines.index("bind = ['0.0.0.0:8000']")
    assert lines[start:start + 8] == [
        "bind = ['0.0.0.0:8000']", "chdir = '/django/app'", "accesslog = '-'",
        "errorlog = '-'", "statsd_host = 'localhost:9125'",
        "control_socket = '/tmp/gunicorn.ctl'", "workers = 4", "timeout = 30",
    ]


def test_gunicorn_check_config_accepts_the_file(tmp_path):
    conf_path = write_app(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(conf_path), "app:application",
         "-k", "sync", "--check-config"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_gunicorn_writes_json_lines(tmp_path):
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as statsd:
        statsd.bind(("127.0.0.1", 0))
        statsd.settimeout(5)
        conf_path = write_app(
            tmp_path,
            bind=f"127.0.0.1:{port}",
            statsd_host=f"127.0.0.1:{statsd.getsockname()[1]}",
            options=["workers = 1"],
        )
        stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(conf_path),
                 "app:application"],
                cwd=tmp_path, stdout=out, stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/admin/?a=1",
                headers={"X-Request-ID": "abc-123", "User-Agent": "curl/8.5.0"},
            )
            body = None
            deadline = time.monotonic() + 30
            while body is None:
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        body = response.read()
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.2)
            assert body == b"hello"
            deadline = time.monotonic() + 10
            while not stdout.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            packets = set()
            while "gunicorn.requests:1|c|@1.0" not in packets:
                packets.add(statsd.recv(512).decode())
        finally:
            server.terminate()
            server.wait(timeout=30)

    access = [json.loads(line) for line in stdout.read_text().splitlines()]
    assert len(access) == 1
    line = access[0]
    assert list(line) == ["timestamp", "severityText", "body", "traceId", "spanId",
                          "attributes"]
    assert TIMESTAMP.match(line["timestamp"])
    assert line["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert line["spanId"] == "00f067aa0ba902b7"
    assert '"GET /admin/?a=1 HTTP/1.1" 200 5 "-" "curl/8.5.0"' in line["body"]
    attributes = line["attributes"]
    assert attributes["http.response.status_code"] == 200
    assert attributes["url.query"] == "a=1"
    assert attributes["client.address"] == "127.0.0.1"
    assert attributes["http.request.header.x-request-id"] == "abc-123"
    assert isinstance(attributes["duration_ms"], float)

    errors = [json.loads(line) for line in stderr.read_text().splitlines()]
    bodies = [e["body"] for e in errors]
    assert any(b.startswith("Starting gunicorn ") for b in bodies), bodies
    assert any(b.startswith("Booting worker with pid: ") for b in bodies), bodies
    assert all(e["attributes"]["logger.name"] == "gunicorn.error" for e in errors)


# An application that fails in the ways gunicorn answers for it.
FAILING_APP = textwrap.dedent(
    """
    import time

    def application(environ, start_response):
        path = environ["PATH_INFO"]
        if path.startswith("/slow"):
            time.sleep(60)  # beyond the worker timeout: the arbiter aborts the worker
        if path.startswith("/boom"):
            raise RuntimeError("x" * 20480)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ready"]
    """
)
GUNICORN_HAS_CONTROL_SOCKET = "control_socket" in Config().settings  # 25.1 and newer


@contextlib.contextmanager
def running_gunicorn(tmp_path, app=APP, env=None, **conf):
    """A real gunicorn serving `app` with our gunicorn.conf.py (one worker unless
    `options` say otherwise), stopped on exit. Yields its url and the paths of its
    stdout (access log) and stderr (error log)."""
    port = free_port()
    conf.setdefault("options", ["workers = 1"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as statsd:
        statsd.bind(("127.0.0.1", 0))
        conf_path = write_app(
            tmp_path, app, bind=f"127.0.0.1:{port}",
            statsd_host=f"127.0.0.1:{statsd.getsockname()[1]}", **conf,
        )
        run = types.SimpleNamespace(
            url=f"http://127.0.0.1:{port}",
            stdout=tmp_path / "stdout",
            stderr=tmp_path / "stderr",
        )
        with open(run.stdout, "wb") as out, open(run.stderr, "wb") as err:
            run.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(conf_path),
                 "app:application"],
                cwd=tmp_path, stdout=out, stderr=err,
                env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"},
            )
        try:
            yield run
        finally:
            run.process.terminate()
            run.process.wait(timeout=30)


def http_get(url, timeout=10):
    """(status, body) of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def wait_until_serving(run):
    """Wait for a 200 to `GET /` (retried on errors: with `timeout = 1`, a worker slow
    to boot on a busy machine may be aborted once)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            status = http_get(run.url + "/")[0]
        except OSError:
            status = None
        if status == 200:
            return
        assert run.process.poll() is None, "gunicorn exited"
        assert time.monotonic() < deadline, "gunicorn not serving (last: %s)" % status
        time.sleep(0.2)


def json_lines(path):
    """The complete lines of a log file, each checked to fit in a line of Pebble."""
    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]
    if data:
        assert_lines_fit(data.decode("ascii"))
    return [json.loads(line) for line in data.splitlines()]


def wait_for_line(path, predicate, timeout=15):
    """The first JSON line of a log file that satisfies `predicate`, once written."""
    deadline = time.monotonic() + timeout
    while True:
        lines = json_lines(path)
        for line in lines:
            if predicate(line):
                return line
        if time.monotonic() > deadline:
            pytest.fail("no such line in %s: %r" % (path.name, lines))
        time.sleep(0.1)


def test_real_gunicorn_application_error_lines(tmp_path):
    # An exception escaping the application: gunicorn writes the 500 itself
    # (Worker.handle_error), and logs the exception, here with a 20 KiB message.
    with running_gunicorn(tmp_path, app=FAILING_APP) as run:
        wait_until_serving(run)
        assert http_get(run.url + "/boom/here?q=1")[0] == 500
        access = wait_for_line(
            run.stdout, lambda l: l["attributes"]["http.response.status_code"] == 500)
        error = wait_for_line(
            run.stderr, lambda l: l["body"].startswith("Error handling request"))
    assert access["attributes"]["url.path"] == "/boom/here"
    assert access["attributes"]["url.query"] == "q=1"
    # gunicorn 27 adds the method: "Error handling request GET /boom/here?q=1".
    assert error["body"].endswith(" /boom/here?q=1")
    assert error["severityText"] == "ERROR"
    attributes = error["attributes"]
    assert attributes["exception.type"] == "RuntimeError"
    assert_cut_from("x" * 20480, attributes["exception.message"])
    stacktrace = attributes["exception.stacktrace"]
    assert stacktrace.startswith("Traceback (most recent call last):")
    assert stacktrace.endswith(CUT_MARK)
    for path in (run.stdout, run.stderr):
        json_lines(path)  # checks that every line fits


def test_real_gunicorn_worker_timeout_access_line_has_the_path(tmp_path):
    with running_gunicorn(tmp_path, app=FAILING_APP,
                          options=["workers = 1", "timeout = 1"]) as run:
        wait_until_serving(run)
        started = time.monotonic()
        assert http_get(run.url + "/slow/down?x=2", timeout=30)[0] == 500
        assert time.monotonic() - started < 20
        access = wait_for_line(
            run.stdout, lambda l: l["attributes"]["http.response.status_code"] == 500)
        timeout = wait_for_line(run.stderr, lambda l: "WORKER TIMEOUT" in l["body"])
    assert timeout["severityText"] == "FATAL"
    assert '"GET /slow/down?x=2 HTTP/1.1" 500 ' in access["body"]
    attributes = access["attributes"]
    assert attributes["url.path"] == "/slow/down"
    assert attributes["url.query"] == "x=2"
    assert attributes["http.request.method"] == "GET"


def unwritable_home_env():
    """The environment with a $HOME that no one, root included, can create."""
    env = {**os.environ, "HOME": "/dev/null/nonexistent"}
    # gunicorn's default control socket prefers $XDG_RUNTIME_DIR to $HOME.
    env.pop("XDG_RUNTIME_DIR", None)
    return env


def test_real_gunicorn_with_unwritable_home_logs_no_control_socket_error(tmp_path):
    with running_gunicorn(tmp_path, env=unwritable_home_env()) as run:
        wait_until_serving(run)
        if GUNICORN_HAS_CONTROL_SOCKET:
            wait_for_line(run.stderr, lambda l: l["body"] ==
                          "Control socket listening at /tmp/gunicorn.ctl")
    errors = json_lines(run.stderr)
    bodies = [line["body"] for line in errors]
    assert not [b for b in bodies if "Control server error" in b], bodies
    assert not [b for b in bodies if "Failed to start control socket" in b], bodies
    assert not [e for e in errors if e["severityText"] in ("ERROR", "FATAL")], bodies


@pytest.mark.skipif(not GUNICORN_HAS_CONTROL_SOCKET,
                    reason="this gunicorn has no control socket (new in 25.1)")
def test_real_gunicorn_without_the_control_socket_line_logs_an_error(tmp_path):
    # What the control_socket line of the conf is for: the check above can fail.
    with running_gunicorn(tmp_path, env=unwritable_home_env(),
                          control_socket=None) as run:
        wait_until_serving(run)
        error = wait_for_line(
            run.stderr, lambda l: l["body"].startswith("Control server error"))
    assert error["severityText"] == "ERROR"
    assert "/dev/null/nonexistent" in error["body"]
