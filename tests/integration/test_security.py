"""Intruders and hostile input on the real stack: refused, or stored verbatim and never executed."""

import itertools
import json
import socket
from pathlib import Path

import pytest

from pipeline.contract import Order
from pipeline.stack import processes
from pipeline.stack.services import services
from pipeline.stack.supervisor import pids
from tests.integration.ground_truth import Run, assert_stored_exactly, sales_rows, wait_until_stored

# Quotes, statement separators and comment markers of SQL and CQL, and a placeholder or two.
HOSTILE = [
    "'; DROP TABLE orders; --",
    '" OR "1"="1',
    "x'); DELETE FROM sales_by_minute; #",
    "/* */",
    "--",
    "a--b",
    "\\'",
    "%s",
    "?",
    "`id`",
    "$$; TRUNCATE customers; $$",
]
# Every field a client sends as a JSON string, from the contract's own schema.
STRING_FIELDS = [
    name
    for name, spec in Order.model_json_schema()["properties"].items()
    if "$ref" in spec or '"string"' in json.dumps(spec)
]


def test_the_contract_has_string_fields_to_attack():
    assert {"order_id", "source", "product_id", "currency", "created_at"} <= set(STRING_FIELDS)


def test_quotes_semicolons_and_comment_markers_are_stored_verbatim_or_refused(api, cassandra, mysql, window):
    run = Run(len(STRING_FIELDS) * len(HOSTILE))
    before = sales_rows(mysql, run)
    with mysql.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM customers")
        customers = cursor.fetchone()[0]
    accepted = []
    for (field, value), order in zip(itertools.product(STRING_FIELDS, HOSTILE), run.orders, strict=False):
        body = order.model_dump(mode="json")
        body[field] = f"{run.tag}-{value}" if field == "product_id" else value  # tagged: the windows stay this test's
        answer = api.post("/orders", json=body)
        assert answer.status_code in (202, 422), (field, value, answer.text)
        if answer.status_code == 422:
            assert [error["field"] for error in answer.json()["errors"]] == [field], (value, answer.text)
        else:
            accepted.append(Order.model_validate(body))
    assert {o.product_id for o in accepted} == {f"{run.tag}---", f"{run.tag}-a--b"}

    run.orders = accepted
    wait_until_stored(cassandra, mysql, run, window)
    assert_stored_exactly(cassandra, mysql, run, before, window)  # product ids verbatim in both stores
    with mysql.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM customers")
        assert cursor.fetchone()[0] == customers


@pytest.mark.parametrize(("length", "status"), [(64, 202), (65, 422), (100_000, 422)])
def test_string_lengths_are_limited(api, length, status):
    body = Run(1).orders[0].model_dump(mode="json")
    body["product_id"] = "p" * length
    answer = api.post("/orders", json=body)
    assert answer.status_code == status, answer.text
    if status == 422:
        assert answer.json()["errors"][0]["field"] == "product_id"


def listening_addresses(pid: int) -> set[str]:
    """host:port of every TCP socket the process listens on (from /proc, like `ss -ltnp`);
    none when it has exited meanwhile (a pyspark worker, a Superset query thread's child)."""
    inodes = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:
        return set()
    for fd in fds:
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            local, state, inode = line.split()[1], line.split()[3], line.split()[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                packed = bytes.fromhex(address)
                if family == socket.AF_INET:
                    packed = packed[::-1]
                else:  # four 32-bit words, each in host (little-endian) order
                    packed = b"".join(packed[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(f"{socket.inet_ntop(family, packed)}:{int(port, 16)}")
    return found


def test_every_service_listens_on_the_loopback_interface_only(settings):
    addresses = {}
    for service in services(settings):
        pid = pids(settings).get(service.name)
        assert pid, f"{service.name} is not running"
        addresses[service.name] = set().union(*(listening_addresses(p) for p in [pid, *processes.descendants(pid)]))
    assert all(addresses.values()), addresses  # each service is found listening somewhere
    exposed = {
        name: sorted(a for a in found if a.rsplit(":", 1)[0] not in ("127.0.0.1", "::1", "::ffff:127.0.0.1"))
        for name, found in addresses.items()
    }
    assert exposed == {name: [] for name in addresses}
