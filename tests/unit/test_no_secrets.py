"""No secret in the repository: every password and key lives in the generated, git-ignored `.env`."""

import re
import subprocess

import pytest

from pipeline.settings import REPO_ROOT

SECRET_NAME = r"[\w.-]*(?:password|passwd|secret|api_?keys?|token)[\w.-]*"
NOT_A_VALUE = r"(?!__generate__|\$|\{|X+\b)"  # a placeholder, a variable (shell's or an f-string's), or a mask
FINDERS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "password in a URL": re.compile(r"://[^/\s:@'\"]+:" + NOT_A_VALUE + r"[^/\s@'\"{}]+@"),
    "secret set to a quoted literal": re.compile(
        # (not when the literal is itself a name like "superset_secret_key": a setting's name)
        rf"(?i)\b{SECRET_NAME}[\"']?\s*[:=]\s*[\[(]?\s*[\"']{NOT_A_VALUE}(?!{SECRET_NAME}[\"'])[^\"'\s]{{6,}}[\"']"
    ),
}
# Unquoted `name: value` lines are values only in configuration files, not in Python.
CONFIG_FINDER = re.compile(rf"(?im)^\s*-?\s*{SECRET_NAME}\s*[:=]\s*{NOT_A_VALUE}[^\s\"'#]{{6,}}\s*$")


def secrets_in(path: str, text: str) -> list[str]:
    finders = {**FINDERS, **({} if path.endswith(".py") else {"secret set in a config file": CONFIG_FINDER})}
    return [
        f"{path}:{text.count(chr(10), 0, found.start()) + 1}: {name}"
        for name, finder in finders.items()
        for found in finder.finditer(text)
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("superset_config.py", 'SECRET_KEY = "k8Jd02mZq1"'),
        ("cassandra.yaml", "  password: hunter22\n"),
        ("my.cnf", "password=s3cr3tpw\n"),
        ("docker-compose.yml", "URI: mysql+pymysql://dash:s3cr3t@mysql:3306/db"),
        ("deploy/key.pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."),
        ("settings.py", 'api_keys = ["live-0123456789"]'),
    ],
)
def test_the_scanner_finds_secrets_written_the_usual_ways(path, text):
    assert secrets_in(path, text)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (".env.example", "MYSQL_PASSWORD=__generate__\n"),
        ("docker-compose.yml", "MYSQL_PASSWORD: ${SUPERSET_METADATA_PASSWORD}\n"),
        ("sales.yaml", "sqlalchemy_uri: mysql+pymysql://dashboard:XXXXXXXXXX@127.0.0.1:3306/sales\n"),
        ("sinks.py", "password=settings.mysql_password.get_secret_value(),\n"),
        ("clients.py", 'f\'username="{settings.kafka_username}" password="{password}";\'\n'),
        ("services.py", 'secrets=("superset_secret_key", "superset_admin_password"),\n'),
    ],
)
def test_the_scanner_lets_placeholders_variables_and_masks_through(path, text):
    assert secrets_in(path, text) == []


def test_no_tracked_file_holds_a_secret():
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True, text=True)
        .stdout.strip("\0")
        .split("\0")
    )
    assert len(tracked) > 50
    found = []
    for path in set(tracked) - {"tests/unit/test_no_secrets.py"}:  # its examples are secrets on purpose
        try:
            text = (REPO_ROOT / path).read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        found += secrets_in(path, text)
    assert found == []


def test_dot_env_is_ignored_and_readable_by_its_owner_only():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO_ROOT)
    assert ignored.returncode == 0
    env = REPO_ROOT / ".env"
    if env.exists():  # created by the first `make` (pipeline/envfile.py)
        assert env.stat().st_mode & 0o077 == 0
