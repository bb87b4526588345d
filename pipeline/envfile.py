"""Create `.env` from `.env.example` on first run, with generated secrets.

Standard library only: it runs before the virtualenv exists.
Usage: python3 -m pipeline.envfile
"""
import re
import secrets
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = "__generate__"


def render(example: str) -> str:
    """Each placeholder gets its own random secret (URL-safe, so no quoting needed)."""
    return re.sub(PLACEHOLDER, lambda _: secrets.token_urlsafe(18), example)


def main() -> None:
    env, example = REPO_ROOT / ".env", REPO_ROOT / ".env.example"
    if env.exists():
        return
    env.write_text(render(example.read_text()))
    env.chmod(0o600)
    print(f"created {env.name} from {example.name} with generated secrets", file=sys.stderr)


if __name__ == "__main__":
    main()
