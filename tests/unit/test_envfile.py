from pipeline.envfile import PLACEHOLDER, missing, render
from pipeline.settings import REPO_ROOT


def test_every_placeholder_gets_its_own_secret():
    rendered = render(f"A=1\nB={PLACEHOLDER}\nC={PLACEHOLDER}\n")
    lines = dict(line.split("=", 1) for line in rendered.splitlines())
    assert lines["A"] == "1"
    assert len(lines["B"]) >= 24
    assert len(lines["C"]) >= 24
    assert lines["B"] != lines["C"]
    assert PLACEHOLDER not in rendered


def test_the_example_has_no_secret_of_its_own():
    example = (REPO_ROOT / ".env.example").read_text()
    passwords = [line for line in example.splitlines() if "PASSWORD=" in line]
    assert passwords
    assert all(line.endswith(f"={PLACEHOLDER}") for line in passwords)


def test_settings_added_to_the_example_later_are_appended_without_touching_the_rest():
    example = f"# comment\nA=1\nB={PLACEHOLDER}\nC=3\n"
    current = "A=changed by the user\n"
    added = missing(example, current)
    assert added == [f"B={PLACEHOLDER}", "C=3"]
    assert missing(example, current + render("\n".join(added))) == []
