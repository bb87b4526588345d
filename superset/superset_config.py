"""Superset's configuration for this pipeline (SUPERSET_CONFIG_PATH points here).

Everything comes from the environment: the settings from `.env`, which
superset/run.sh checks are there; nothing here is a secret or an address.
"""

import os
import threading
from pathlib import Path

import pymysql

# The dashboard's database uses PyMySQL (pure Python; mysqlclient would need a
# C toolchain and client headers). Superset's MySQL engine spec still imports
# MySQLdb to name column types, so PyMySQL stands in under that name.
pymysql.install_as_MySQLdb()

STATE = Path(os.environ["SUPERSET_HOME"])

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
# SQLite beside the state locally; docker mode passes a MySQL database instead.
SQLALCHEMY_DATABASE_URI = os.environ.get("SUPERSET_METADATA_URI") or f"sqlite:///{STATE / 'superset.db'}"

# The dashboard refreshes every 10 s and must show what MySQL holds then:
# no chart-data or query cache (Superset's defaults, stated so nobody adds one).
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}

# Relative time ranges ("Last day") end now rather than at midnight.
DEFAULT_RELATIVE_START_TIME = "now"
DEFAULT_RELATIVE_END_TIME = "now"

# Superset 6.0's SQL sanitizer (sqlglot) drops DATE() inside DATE_ADD, so
# MySQL's second, minute and hour grains double the time of day
# (apache/superset#44412, tobymao/sqlglot#8392). The CAST survives it; this is
# the expression upstream adopted (apache/superset#38617).
TIME_GRAIN_ADDON_EXPRESSIONS = {
    "mysql": {
        "PT1S": "DATE_ADD(CAST(DATE({col}) AS DATETIME), "
        "INTERVAL (HOUR({col})*60*60 + MINUTE({col})*60 + SECOND({col})) SECOND)",
        "PT1M": "DATE_ADD(CAST(DATE({col}) AS DATETIME), INTERVAL (HOUR({col})*60 + MINUTE({col})) MINUTE)",
        "PT1H": "DATE_ADD(CAST(DATE({col}) AS DATETIME), INTERVAL HOUR({col}) HOUR)",
    }
}

FEATURE_FLAGS = {
    # The sales dataset's SQL picks the minute, hour or day table from the time range (Jinja).
    "ENABLE_TEMPLATE_PROCESSING": True,
    # "Big Number with Time Period Comparison" (pop_kpi): the big numbers beside the previous period.
    "CHART_PLUGINS_EXPERIMENTAL": True,
}

# No telemetry calls to the internet; a local product stays local.
SCARF_ANALYTICS = False


def serialize_time_range_parsing():
    """Serialize Superset's time-range parser across gunicorn threads.

    Superset 6.0 evaluates every time range ("DATEADD(DATETIME("now"), -1,
    hour) : now") with a shared pyparsing grammar and no lock; charts parsed
    at the same moment intermittently fail with "Expected '(', found ')'"
    (apache/superset#12489 added a lock that was later dropped). Parsing
    takes microseconds, so one lock costs nothing.
    """
    from superset.utils import date_parser

    evaluate, lock = date_parser.datetime_eval, threading.Lock()

    def datetime_eval_serialized(datetime_expression=None):
        with lock:
            return evaluate(datetime_expression)

    date_parser.datetime_eval = datetime_eval_serialized


def refuse_anonymous_event_logs(app):
    """Answer the event log of a page nobody has signed in to with 401, session untouched.

    The login page posts its event log (/superset/log/) as the form submits.
    Signed out, that request meets Flask-AppBuilder's access check, which
    flashes "Access is Denied" into the session and so answers with a new
    session cookie; arriving after the login's answer, it replaced the
    signed-in session and sent the browser back to the login page. Superset
    would not record an anonymous event anyway.
    """
    from flask import Response, request, session

    @app.before_request
    def anonymous_event_log():
        # Read from the session itself: loading the user would let Flask-Login's session
        # protection mark this session not fresh, which writes a cookie too.
        if request.endpoint == "Superset.log" and "_user_id" not in session:
            return Response(status=401)
        return None


def FLASK_APP_MUTATOR(app):
    serialize_time_range_parsing()
    refuse_anonymous_event_logs(app)
