import re
import subprocess
import sys

import pytest

from pipeline.settings import REPO_ROOT


@pytest.mark.parametrize("mode", [["--mode", "single"], ["--mode", "batch", "--batch-size", "50"]])
def test_the_load_generator_gets_every_valid_order_accepted_and_every_broken_one_refused(mode, tmp_path):
    accepted_out = tmp_path / "accepted.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.simulate", "--rate", "200", "--duration", "3", "--invalid-share", "0.1",
         "--seed", "3", "--accepted-out", str(accepted_out), *mode],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sent = int(re.search(r"sent (\d+) orders", result.stdout).group(1))
    accepted = int(re.search(r"accepted (\d+);", result.stdout).group(1))
    rejected = int(re.search(r"rejected (\d+) invalid", result.stdout).group(1))
    assert sent >= 500 and accepted + rejected == sent and rejected > 0
    assert "p99" in result.stdout
    assert len(accepted_out.read_text().splitlines()) == accepted
