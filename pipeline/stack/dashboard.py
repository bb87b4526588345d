"""The Superset dashboard kept as code in superset/dashboard/ (an export bundle),
imported by `make up` through Superset's own import API.

The bundle's database entry is completed from .env here: the read-only MySQL
user, host, port and database, with the password passed beside the zip as
Superset's import expects. Importing overwrites by UUID, so running it again
leaves one copy. Superset's dashboard import overwrites only the dashboard
and keeps existing charts, datasets and databases as they are, so each kind
is imported through its own endpoint first: a changed bundle updates all of it.
"""

import io
import json
import zipfile
from urllib.parse import quote, urlencode

import httpx
import yaml

from pipeline.clients import MYSQL_SESSION_UTC, ca_file
from pipeline.settings import REPO_ROOT, Settings

BUNDLE = REPO_ROOT / "superset" / "dashboard"
SLUG = "sales-real-time"
# What Superset puts in exported URIs instead of a password.
MASKED_PASSWORD = "XXXXXXXXXX"
# Import endpoints in dependency order, with the bundle type each one accepts.
IMPORTS = (("database", "Database"), ("dataset", "SqlaTable"), ("chart", "Slice"), ("dashboard", "Dashboard"))


def mysql_uri_query(settings: Settings) -> str:
    """The URI's options (SQLAlchemy's MySQL dialects): sessions in UTC, as the pipeline's; with TLS,
    the server's certificate and name checked."""
    options = {"init_command": MYSQL_SESSION_UTC}
    if settings.mysql_ssl:
        options["ssl_check_hostname"] = "true"
        if ca := ca_file(settings, "mysql_ssl_ca_file"):
            options["ssl_ca"] = ca
    return "?" + urlencode(options, quote_via=quote)


def bundle_files(settings: Settings) -> dict[str, dict]:
    """Each YAML file of the bundle by its path in the bundle, completed from settings."""
    files = {
        path.relative_to(BUNDLE).as_posix(): yaml.safe_load(path.read_text()) for path in sorted(BUNDLE.rglob("*.yaml"))
    }
    for name, content in files.items():
        if name.startswith("databases/"):
            content["sqlalchemy_uri"] = (
                f"mysql+pymysql://{settings.mysql_readonly_user}:{MASKED_PASSWORD}"
                f"@{settings.mysql_host}:{settings.mysql_port}/{settings.mysql_database}{mysql_uri_query(settings)}"
            )
        elif name.startswith("datasets/"):
            content["schema"] = settings.mysql_database
    return files


def bundle_zip(files: dict[str, dict]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(f"bundle/{name}", yaml.safe_dump(content, allow_unicode=True, sort_keys=False))
    return buffer.getvalue()


def dashboard_url(settings: Settings) -> str:
    return f"{settings.superset_url}/superset/dashboard/{SLUG}/"


class SupersetClient:
    """Superset's REST API as the admin from .env: a JWT for the API, and the
    session cookie plus CSRF token that its form posts (the import) require."""

    def __init__(self, settings: Settings):
        self.http = httpx.Client(base_url=settings.superset_url, timeout=60, headers={"Referer": settings.superset_url})
        login = self.http.post(
            "/api/v1/security/login",
            json={
                "username": settings.superset_admin_user,
                "password": settings.superset_admin_password.get_secret_value(),
                "provider": "db",
            },
        ).raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        token = self.http.get("/api/v1/security/csrf_token/").raise_for_status().json()["result"]
        self.http.headers["X-CSRFToken"] = token

    def __enter__(self) -> "SupersetClient":
        return self

    def __exit__(self, *_) -> None:
        self.http.close()

    def get(self, path: str, **params) -> dict:
        return self.http.get(path, params=params).raise_for_status().json()

    def import_bundle(self, kind: str, archive: bytes, passwords: dict[str, str]) -> None:
        """Import (overwriting) the `kind` assets of the archive; the ones they use are created when missing."""
        response = self.http.post(
            f"/api/v1/{kind}/import/",
            files={"formData": ("dashboard.zip", archive, "application/zip")},
            data={"passwords": json.dumps(passwords), "overwrite": "true"},
        )
        if response.is_error:
            # Validation errors come back as JSON; a bundle Superset cannot read, as an HTML error page.
            is_json = response.headers.get("content-type", "").startswith("application/json")
            reason = json.dumps(response.json())[:2000] if is_json else "no details in the answer"
            raise RuntimeError(f"Superset refused the {kind} import ({response.status_code}, {reason})")


def import_bundle(settings: Settings, files: dict[str, dict] | None = None) -> dict[str, dict]:
    """Import the bundle (default: superset/dashboard/ completed from settings); the files imported."""
    files = files or bundle_files(settings)
    passwords = {
        name: settings.mysql_readonly_password.get_secret_value() for name in files if name.startswith("databases/")
    }
    with SupersetClient(settings) as superset:
        for kind, bundle_type in IMPORTS:
            typed = {**files, "metadata.yaml": {**files["metadata.yaml"], "type": bundle_type}}
            superset.import_bundle(kind, bundle_zip(typed), passwords)
    return files


def apply(settings: Settings) -> str:
    """`make up`'s step: import the dashboard."""
    charts = sum(name.startswith("charts/") for name in import_bundle(settings))
    return f"{charts} charts imported, {dashboard_url(settings)}"
