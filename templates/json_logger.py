# JSON logging for gunicorn (DJANGO.md 7.1), written for the Django charm.
#
# The charm inserts this text verbatim into gunicorn.conf.py when paas-config.yaml sets
# `framework_logging_format: json`, follows it with `logger_class = GunicornJsonLogger`,
# and wraps the WSGI application in `OtelSpanMiddleware` from a `post_fork` hook. Being
# part of a gunicorn config file shapes the code:
#   * gunicorn reads every top-level name of its config file and applies those that are
#     settings, so every helper here starts with `_` (no setting does) and the only
#     public names are the two classes;
#   * the file may start with the tracing imports (`from opentelemetry import trace`
#     and friends), so no `from __future__` import, and no top-level name here may
#     rebind theirs;
#   * only the standard library and gunicorn are imported at load time; OpenTelemetry's
#     trace API is imported on first use and is optional.
#
# Every log line is one JSON object (json.dumps defaults; values that are not JSON types
# become strings) with keys in this order: timestamp, severityText, body, traceId and
# spanId (only with a valid span), attributes.

import contextvars as _contextvars
import json as _json
import logging as _logging
import re as _re
import time as _time
import traceback as _traceback

from gunicorn import glogging as _glogging

try:
    # With a custom logger_class gunicorn no longer switches to its statsd logger by
    # itself, and the dashboards read the statsd metrics: extend that logger (itself a
    # glogging.Logger) so JSON logging keeps them.
    from gunicorn.instrument.statsd import Statsd as _JsonLoggerBase
except ImportError:  # pragma: no cover - every gunicorn since 19 has it
    _JsonLoggerBase = _glogging.Logger

_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}
_LEADING_DIGITS = _re.compile(r"\d+")

# The OpenTelemetry trace API module, or None when it cannot be imported. Looked up once,
# on first use, so that the module loads (and logs) without OpenTelemetry.
_otel_trace_api = None
_otel_trace_api_looked_up = False


def _otel_trace():
    global _otel_trace_api, _otel_trace_api_looked_up
    if not _otel_trace_api_looked_up:
        _otel_trace_api_looked_up = True
        try:
            from opentelemetry import trace as _api
        except Exception:
            _api = None
        _otel_trace_api = _api
    return _otel_trace_api


def _span_ids(span):
    """(traceId, spanId) as lower-case hex of a span with a valid context, else None."""
    if span is None:
        return None
    try:
        context = span.get_span_context()
        if not context.is_valid:
            return None
        return "%032x" % context.trace_id, "%016x" % context.span_id
    except Exception:
        return None


def _current_span_ids():
    api = _otel_trace()
    if api is None:
        return None
    try:
        return _span_ids(api.get_current_span())
    except Exception:
        return None


def _utc_timestamp(seconds):
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, milliseconds truncated.

    The float is first rounded to whole microseconds, so that a time such as
    1735787045.678 (stored as 1735787045.67799997...) keeps its .678.
    """
    micros = int(round(seconds * 1000000))
    whole, micro = divmod(micros, 1000000)
    return "%s.%03dZ" % (
        _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(whole)),
        micro // 1000,
    )


def _severity_text(level_name):
    return _SEVERITY_TEXT.get(level_name, level_name)


def _json_line(timestamp, severity, body, span_ids, attributes):
    line = {"timestamp": timestamp, "severityText": severity, "body": body}
    if span_ids is not None:
        line["traceId"], line["spanId"] = span_ids
    line["attributes"] = attributes
    return _json.dumps(line, default=str)


def _status_code(status):
    """The response status as an integer when it starts with digits, else as given."""
    if isinstance(status, bytes):
        status = status.decode("latin-1")
    if isinstance(status, int):
        return status
    match = _LEADING_DIGITS.match(str(status))
    return int(match.group()) if match else str(status)


def _status_token(status):
    """The first word of the status, as gunicorn's `%(s)s` shows it."""
    if isinstance(status, bytes):
        status = status.decode("latin-1")
    words = str(status).split(None, 1)
    return words[0] if words else ""


def _duration_ms(request_time):
    """Milliseconds of a timedelta (or of a number of seconds), rounded to 3 decimals."""
    if hasattr(request_time, "microseconds"):
        millis = (
            (request_time.days * 86400 + request_time.seconds) * 1000
            + request_time.microseconds / 1000
        )
    else:
        millis = float(request_time) * 1000
    return round(millis, 3)


def _request_header(req, environ, name):
    """A request header (first value, name compared case-insensitively), or None."""
    headers = getattr(req, "headers", None)
    if headers is not None:
        if hasattr(headers, "items"):
            headers = headers.items()
        try:
            for key, value in headers:
                if str(key).lower() == name:
                    return value
        except (TypeError, ValueError):
            pass
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


class _JsonRecordFormatter(_logging.Formatter):
    """Turns a log record into a JSON line: gunicorn's error log, and any record."""

    def format(self, record):
        try:
            body = record.getMessage()
        except Exception:
            body = str(record.msg)
        attributes = {"logger.name": record.name}
        exc_info = record.exc_info
        if exc_info and exc_info[0] is not None:
            exc_type, exc_value, exc_tb = exc_info
            attributes["exception.type"] = exc_type.__qualname__
            attributes["exception.message"] = str(exc_value)
            attributes["exception.stacktrace"] = "".join(
                _traceback.format_exception(exc_type, exc_value, exc_tb)
            )
        return _json_line(
            _utc_timestamp(record.created),
            _severity_text(record.levelname),
            body,
            _current_span_ids(),
            attributes,
        )


# The request whose access line is being logged: (logger, resp, req, environ,
# request_time), set by GunicornJsonLogger.access around gunicorn's own access logging.
# A context variable, so that threads and greenlets each see their own request.
_access_request = _contextvars.ContextVar("gunicorn_json_access_request", default=None)


class _JsonAccessFormatter(_JsonRecordFormatter):
    """Turns gunicorn's access record into a JSON line about its request."""

    def format(self, record):
        request = _access_request.get()
        if request is None:
            return super().format(record)
        logger, resp, req, environ, request_time = request
        status = getattr(resp, "status", None)
        try:
            # gunicorn's line: access_log_format applied to its atoms.
            body = record.getMessage()
        except Exception:
            body = '%s - "%s %s %s" %s' % (
                environ.get("REMOTE_ADDR") or "-",
                environ.get("REQUEST_METHOD") or "-",
                environ.get("RAW_URI") or environ.get("PATH_INFO") or "-",
                environ.get("SERVER_PROTOCOL") or "-",
                _status_token(status),
            )
        attributes = {
            "logger.name": record.name,
            "http.request.method": environ.get("REQUEST_METHOD", ""),
            "url.path": environ.get("PATH_INFO", ""),
            "http.response.status_code": _status_code(status),
            "duration_ms": _duration_ms(request_time),
        }
        optional = (
            ("url.query", environ.get("QUERY_STRING")),
            ("client.address", environ.get("REMOTE_ADDR")),
            (
                "http.request.header.x-request-id",
                _request_header(req, environ, "x-request-id"),
            ),
        )
        for key, value in optional:
            if value:
                attributes[key] = value
        return _json_line(
            _utc_timestamp(logger.json_log_clock()),
            "INFO",
            body,
            OtelSpanMiddleware.captured_ids(environ),
            attributes,
        )


class GunicornJsonLogger(_JsonLoggerBase):
    """gunicorn logger writing access and error logs as one JSON object per line.

    gunicorn still decides what is logged, builds the access line and sends the statsd
    metrics; this class only gives its handlers JSON formatters and lets the access
    formatter see the request being logged.
    """

    # Seconds since the epoch: the time of access lines and of `%(t)s` in their body.
    # An instance attribute of the same name replaces it (tests use a fixed clock).
    json_log_clock = staticmethod(_time.time)

    def setup(self, cfg):
        super().setup(cfg)
        # gunicorn marks the handlers it installs on its loggers; handlers of a user's
        # logconfig keep their own format.
        for log, formatter in (
            (self.error_log, _JsonRecordFormatter()),
            (self.access_log, _JsonAccessFormatter()),
        ):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):
                    handler.setFormatter(formatter)

    def now(self):
        # Apache's `[%d/%b/%Y:%H:%M:%S %z]`, from the clock of the timestamp.
        return _time.strftime(
            "[%d/%b/%Y:%H:%M:%S %z]", _time.localtime(self.json_log_clock())
        )

    def access(self, resp, req, environ, request_time):
        token = _access_request.set((self, resp, req, environ, request_time))
        try:
            super().access(resp, req, environ, request_time)
        finally:
            _access_request.reset(token)


class OtelSpanMiddleware:
    """WSGI middleware that records the request's OpenTelemetry span in the environ.

    The ids are taken, in this order of preference, from the span current when the
    application calls start_response, from a span that an OpenTelemetry instrumentation
    left in the environ (`opentelemetry-<name>.span_key`, as the Django and Flask
    instrumentations do; their span is no longer current once the application returns),
    and from the span current when the request arrived. Only valid spans count.
    """

    TRACE_ID_KEY = "otel.trace_id"
    SPAN_ID_KEY = "otel.span_id"

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        on_entry = _current_span_ids()

        def _start_response(status, headers, *exc_info):
            # Also reached lazily, while gunicorn iterates the response.
            self._record(environ, _current_span_ids())
            return start_response(status, headers, *exc_info)

        try:
            return self.app(environ, _start_response)
        finally:
            if self.captured_ids(environ) is None:
                self._record(
                    environ, self._instrumentation_span_ids(environ) or on_entry
                )

    @classmethod
    def _record(cls, environ, ids):
        if ids is not None:
            environ[cls.TRACE_ID_KEY], environ[cls.SPAN_ID_KEY] = ids

    @staticmethod
    def _instrumentation_span_ids(environ):
        try:
            items = list(environ.items())
        except Exception:
            return None
        for key, value in items:
            if (
                isinstance(key, str)
                and key.startswith("opentelemetry-")
                and key.endswith(".span_key")
            ):
                ids = _span_ids(value)
                if ids is not None:
                    return ids
        return None

    @classmethod
    def captured_ids(cls, environ):
        """The (traceId, spanId) recorded for this request, or None."""
        trace_id = environ.get(cls.TRACE_ID_KEY)
        span_id = environ.get(cls.SPAN_ID_KEY)
        if trace_id and span_id:
            return trace_id, span_id
        return None
