"""Tests of templates/json_logger.py, the JSON logging module of gunicorn.conf.py.

The module is tested the way the charm ships it (DJANGO.md 7.1): its text, without the
final newline, is put into a gunicorn.conf.py after an empty line and followed by
`logger_class = GunicornJsonLogger`, the option lines and the `post_fork` hook; gunicorn's
own config loader reads that file. Run with `tests/python/run`.
"""

import ast
import calendar
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
import types
import urllib.request
from pathlib import Path

import pytest
from gunicorn import glogging
from gunicorn.app.base import Application
from gunicorn.config import Config
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
    options=(),
):
    """gunicorn.conf.py with JSON logging, laid out as DJANGO.md 7.1 gives it."""
    lines = [
        f"bind = [{bind!r}]",
        f"chdir = {str(chdir)!r}",
        f"accesslog = {accesslog}",
        f"errorlog = {errorlog}",
        f"statsd_host = {statsd_host!r}",
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
        "statsd_host = 'localhost:9125'\n\ndef post_fork(server, worker):\n"
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


def write_app(tmp_path, **conf):
    (tmp_path / "app.py").write_text(APP)
    conf_path = tmp_path / "gunicorn.conf.py"
    conf_path.write_text(gunicorn_conf(chdir=tmp_path, **conf))
    return conf_path


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
