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
# spanId (only with a valid span), attributes. A line, its newline included, is at most
# 4096 bytes: Pebble reads a service's output in lines of at most 4096 bytes (for its
# log API and for the forwarding to Loki alike) and would split a longer one into a cut
# JSON line and a non-JSON rest. Longer records have their longest texts cut
# (_fit_line).

import contextvars as _contextvars
import json as _json
import logging as _logging
import re as _re
import time as _time
import traceback as _traceback

from gunicorn import glogging as _glogging
from gunicorn import util as _gunicorn_util

try:
    # With a custom logger_class gunicorn no longer switches to its statsd logger by
    # itself, and the dashboards read the statsd metrics: extend that logger (itself a
    # glogging.Logger) so JSON logging keeps them.
    from gunicorn.instrument.statsd import Statsd as _JsonLoggerBase
except ImportError:  # pragma: no cover - every gunicorn since 19 has it
    _JsonLoggerBase = _glogging.Logger

_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}
_LEADING_DIGITS = _re.compile(r"\d+")
# The scheme and authority of an absolute-form request target (`http://host:8000`).
_SCHEME_AND_AUTHORITY = _re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/]*")

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
    try:
        text = _json.dumps(line, default=str)
    except Exception:
        # A value whose str() fails, an integer too long to print, ...: _fit_line
        # makes every value printable first.
        text = None
    if text is not None and len(text) <= _MAX_JSON_CHARS:
        return text
    return _fit_line(line)


# The size limit of a line, newline included (Pebble's, see the header), and so of the
# JSON text before the newline that the logging handler adds. json.dumps escapes every
# character outside ASCII (ensure_ascii, a default kept on purpose), so the text is
# ASCII: its length in characters is its length in bytes, in whatever ASCII-compatible
# encoding the stream uses. Every size below is such an encoded length.
_MAX_LINE_BYTES = 4096
_MAX_JSON_CHARS = _MAX_LINE_BYTES - 1
# The end of every cut text.
_CUT_MARK = "...[cut]"
# Cut first, in this order: the message, then the exception's texts.
_CUT_FIRST_ATTRIBUTES = ("exception.stacktrace", "exception.message", "exception.type")
# What the first rounds leave of a text they cut: enough to tell what it was about.
# Three texts of this size and the rest of an ordinary record fit in a line.
_CUT_FLOOR = 1024


def _encoded_len(text):
    """The length of a string in the JSON text, quotes excluded."""
    return len(_json.dumps(text)) - 2


def _cut_text(text, size):
    """The longest start of `text` that, followed by _CUT_MARK, encodes to at most
    `size` characters (never less than the mark itself)."""
    budget = size - len(_CUT_MARK)
    # Every character encodes to at least one, so the start has at most `budget`
    # characters; find the longest one that fits by bisection, measuring each
    # candidate the way json.dumps writes it (escapes of `"`, `\`, controls and
    # non-ASCII are 2, 6 or 12 characters long).
    low, high = 0, max(0, min(len(text), budget))
    while low < high:
        middle = (low + high + 1) // 2
        if _encoded_len(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low] + _CUT_MARK


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return "<unprintable %s>" % type(value).__name__


def _plain(value):
    """A copy of a JSON-like value that json.dumps can always write, where every part
    that may be long is a string, and so can be cut.

    Values that are not JSON types become strings (as `default=str` makes them), and so
    do integers of more than 32 digits; dict keys that are not strings too.
    """
    if value is None or isinstance(value, (bool, float, str)):
        return value
    if isinstance(value, int):
        try:
            digits = int.__repr__(value)
        except ValueError:
            # Longer than sys.get_int_max_str_digits(): not printable at all.
            return "<integer of %d bits>" % value.bit_length()
        return value if len(digits) <= 32 else digits
    if isinstance(value, dict):
        return {
            key if isinstance(key, str) else _safe_str(key): _plain(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return _safe_str(value)


def _string_places(value):
    """(container, key) of every string value inside dicts and lists, depth first."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, item in items:
        if isinstance(item, str):
            yield value, key
        else:
            yield from _string_places(item)


def _cut_place(line, text, place, floor):
    """Cut the string at `place` just enough for the line to fit, keeping at least
    `floor` characters of it (mark included). Returns the line's new JSON text."""
    container, key = place
    value = container[key]
    size = _encoded_len(value)
    target = max(size - (len(text) - _MAX_JSON_CHARS), floor, len(_CUT_MARK))
    if target >= size:
        return text
    container[key] = _cut_text(value, target)
    return _json.dumps(line)


def _fit_line(line):
    """The JSON text of a line that is too long (or that json.dumps cannot write as
    it is), cut to _MAX_JSON_CHARS. Never raises."""
    try:
        line = _plain(line)
        text = _json.dumps(line)
        # 1. The message, then the exception's texts, each cut by what is still too
        #    much, but to no less than _CUT_FLOOR: a record whose message is long keeps
        #    its stack trace whole when it can, and the other way round.
        attributes = line.get("attributes")
        first = [(line, "body")]
        if isinstance(attributes, dict):
            first += [(attributes, key) for key in _CUT_FIRST_ATTRIBUTES]
        for container, key in first:
            if len(text) <= _MAX_JSON_CHARS:
                return text
            if isinstance(container.get(key), str):
                text = _cut_place(line, text, (container, key), _CUT_FLOOR)
        # 2. Whatever else is long (a huge URL, header or logger name...): the longest
        #    string first, then the next longest, first down to _CUT_FLOOR, then, if the
        #    line still does not fit, down to the mark alone.
        for floor in (_CUT_FLOOR, 0):
            while len(text) > _MAX_JSON_CHARS:
                longest = None
                longest_size = max(floor, len(_CUT_MARK))
                for place in _string_places(line):
                    size = _encoded_len(place[0][place[1]])
                    if size > longest_size:
                        longest, longest_size = place, size
                if longest is None:
                    break
                text = _cut_place(line, text, longest, floor)
        if len(text) <= _MAX_JSON_CHARS:
            return text
    except Exception:
        pass
    return _stand_in_line(line)


def _stand_in_line(line):
    """A short line standing for a record that could not be written within the limit
    (only a record with thousands of non-string values could come to this)."""

    def short(key, container=line):
        try:
            value = container.get(key)
            if isinstance(value, str) and _encoded_len(value) <= 200:
                return value
        except Exception:
            pass
        return ""

    try:
        attributes = line.get("attributes")
        if not isinstance(attributes, dict):
            attributes = {}
        return _json.dumps(
            {
                "timestamp": short("timestamp"),
                "severityText": short("severityText"),
                "body": "log record too large to write in one line" + _CUT_MARK,
                "attributes": {"logger.name": short("logger.name", attributes)},
            }
        )
    except Exception:
        return (
            '{"timestamp": "", "severityText": "", "body": "log record too large to '
            'write in one line' + _CUT_MARK + '", "attributes": {}}'
        )


def _status_code(status):
    """The response status as an integer when it starts with digits, else as given."""
    if isinstance(status, bytes):
        status = status.decode("latin-1")
    if isinstance(status, int):
        return status
    status = _safe_str(status)
    match = _LEADING_DIGITS.match(status)
    if match:
        try:
            return int(match.group())
        except ValueError:
            pass  # more digits than int() converts (sys.get_int_max_str_digits)
    return status


def _status_token(status):
    """The first word of the status, as gunicorn's `%(s)s` shows it."""
    if isinstance(status, bytes):
        status = status.decode("latin-1")
    words = _safe_str(status).split(None, 1)
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


def _url_path(req, environ):
    """The request's path: PATH_INFO, or when gunicorn did not set it, the path of the
    request line's target.

    gunicorn answers some requests itself: a worker that exceeds its timeout (the
    arbiter aborts it in the middle of the request), an exception escaping the
    application, a request it refuses (a header too large...). Worker.handle_error then
    logs the access line with an environ of its own (http.wsgi.default_environ), which
    has RAW_URI, the request line's target, but no PATH_INFO.
    """
    if "PATH_INFO" in environ:
        return environ["PATH_INFO"]
    target = environ.get("RAW_URI") or getattr(req, "uri", None)
    if not isinstance(target, str):
        return ""
    # The path is what precedes the query (`?`) or fragment (`#`); an absolute-form
    # target (`http://host/path`, as sent to proxies) starts with scheme and authority.
    path = target.split("?", 1)[0].split("#", 1)[0]
    absolute = _SCHEME_AND_AUTHORITY.match(path)
    if absolute:
        path = path[absolute.end():]
    # PATH_INFO is percent-decoded (a "WSGI string", bytes as latin-1): decode the same
    # way, with gunicorn's own function when it has it, so that url.path of a request
    # is the same whoever answered it.
    unquote = getattr(_gunicorn_util, "unquote_to_wsgi_str", None)
    if unquote is not None:
        try:
            path = unquote(path)
        except Exception:
            pass
    return path


class _JsonRecordFormatter(_logging.Formatter):
    """Turns a log record into a JSON line: gunicorn's error log, and any record."""

    def format(self, record):
        # An exception escaping a formatter makes logging print its own multi-line
        # report to stderr instead of the record: give a JSON line about it instead.
        try:
            return self._format(record)
        except Exception as error:
            return self._line_about_a_failure(record, error)

    def _format(self, record):
        try:
            body = record.getMessage()
        except Exception:
            body = _safe_str(record.msg)
        attributes = {"logger.name": record.name}
        exc_info = record.exc_info
        if exc_info and exc_info[0] is not None:
            exc_type, exc_value, exc_tb = exc_info
            attributes["exception.type"] = exc_type.__qualname__
            attributes["exception.message"] = _safe_str(exc_value)
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

    @staticmethod
    def _line_about_a_failure(record, error):
        try:
            timestamp = _utc_timestamp(record.created)
        except Exception:
            timestamp = _utc_timestamp(_time.time())
        return _json_line(
            timestamp,
            _severity_text(_safe_str(getattr(record, "levelname", "ERROR"))),
            "log record not formattable: %s" % _safe_str(error),
            None,
            {"logger.name": _safe_str(getattr(record, "name", ""))},
        )


# The request whose access line is being logged: (logger, resp, req, environ,
# request_time), set by GunicornJsonLogger.access around gunicorn's own access logging.
# A context variable, so that threads and greenlets each see their own request.
_access_request = _contextvars.ContextVar("gunicorn_json_access_request", default=None)


class _JsonAccessFormatter(_JsonRecordFormatter):
    """Turns gunicorn's access record into a JSON line about its request."""

    def _format(self, record):
        request = _access_request.get()
        if request is None:
            return super()._format(record)
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
            "url.path": _url_path(req, environ),
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
