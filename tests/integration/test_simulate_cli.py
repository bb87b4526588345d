import json
import re
import subprocess
import sys

import pytest

from pipeline.contract import Order
from pipeline.settings import REPO_ROOT
from tests.integration.helpers import OrdersTopic


def summary_count(pattern: str, stdout: str) -> tuple[int, ...]:
    found = re.search(pattern, stdout, re.MULTILINE)
    assert found, f"{pattern!r} not in the summary:\n{stdout}"
    return tuple(map(int, found.groups()))


@pytest.mark.parametrize("mode", [["--mode", "single"], ["--mode", "batch", "--batch-size", "50"]])
def test_the_load_generator_gets_every_valid_order_accepted_and_every_broken_one_refused(mode, settings, tmp_path):
    topic = OrdersTopic(settings)
    accepted_out = tmp_path / "accepted.jsonl"
    # No --seed: a fixed one would resend the order_ids of earlier runs, which the stream drops as duplicates.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.simulate",
            "--rate",
            "100",
            "--duration",
            "3",
            "--invalid-share",
            "0.1",
            "--accepted-out",
            str(accepted_out),
            *mode,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sent, valid, invalid = summary_count(r"^sent\s+(\d+) orders \((\d+) valid, (\d+) invalid\)", result.stdout)
    (accepted,) = summary_count(r"^accepted\s+(\d+)", result.stdout)
    (rejected,) = summary_count(r"^rejected\s+(\d+)", result.stdout)
    assert sent == 300
    assert invalid > 0
    assert (accepted, rejected) == (valid, invalid)
    assert re.search(r"p50 [\d.]+ p95 [\d.]+ p99 [\d.]+ max [\d.]+", result.stdout)

    # The ground truth file: every accepted order, as the contract reads it, with the order_id it was sent with.
    lines = [json.loads(line) for line in accepted_out.read_text().splitlines()]
    assert len(lines) == accepted
    assert all(str(Order.model_validate(line).total) == line["total"] for line in lines)
    assert {line["order_id"] for line in lines} <= {key.decode() for key, _ in topic.since()}
