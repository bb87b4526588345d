from pipeline.envfile import PLACEHOLDER, render
from pipeline.settings import REPO_ROOT


def test_every_placeholder_gets_its_own_secret():
    rendered = render(f"A=1\nB={PLACEHOLDER}\nC={PLACEHOLDER}\n")
    lines = dict(line.split("=", 1) for line in rendered.splitlines())
    assert lines["A"] == "1"
    assert len(lines["B"]) >= 24 and len(lines["C"]) >= 24
    assert lines["B"] != lines["C"]
    assert PLACEHOLDER not in rendered


def test_the_example_has_no_secret_of_its_own():
    example = (REPO_ROOT / ".env.example").read_text()
    passwords = [line for line in example.splitlines() if "PASSWORD=" in line]
    assert passwords and all(line.endswith(f"={PLACEHOLDER}") for line in passwords)
