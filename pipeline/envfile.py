"""Create `.env` from `.env.example` on first run, with generated secrets;
later, append the settings a newer `.env.example` added (values already in
`.env` are never changed).

Standard library only: it runs before the virtualenv exists.
Usage: python3 -m pipeline.envfile
"""

import re
import secrets
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = "__generate__"
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.M)


def render(example: str) -> str:
    """Each placeholder gets its own random secret (URL-safe, so no quoting needed)."""
    return re.sub(PLACEHOLDER, lambda _: secrets.token_urlsafe(18), example)


def missing(example: str, current: str) -> list[str]:
    """The example's assignment lines whose names `current` does not set."""
    present = set(ASSIGNMENT.findall(current))
    return [line for line in example.splitlines() if (m := ASSIGNMENT.match(line)) and m.group(1) not in present]


def main() -> None:
    env, example = REPO_ROOT / ".env", REPO_ROOT / ".env.example"
    if not env.exists():
        env.write_text(render(example.read_text()))
        env.chmod(0o600)
        print(f"created {env.name} from {example.name} with generated secrets", file=sys.stderr)
        return
    current = env.read_text()
    added = missing(example.read_text(), current)
    if added:
        separator = "" if current.endswith("\n") or not current else "\n"
        env.write_text(current + separator + render("\n".join(added) + "\n"))
        names = ", ".join(m.group(1) for line in added if (m := ASSIGNMENT.match(line)))
        print(f"added to {env.name} from {example.name}: {names}", file=sys.stderr)


if __name__ == "__main__":
    main()
