"""What the benchmark prints and writes: progress lines, the table judged against the targets, the JSON file."""

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.simulate import percentile


@dataclass(frozen=True)
class Targets:
    """The targets of the benchmark issue, for a 2-core machine; the table's `met` column judges these."""

    single_orders_per_s: int = 2_000
    single_open_loop_p99_ms: int = 50
    batch_orders_per_s: int = 20_000
    batch_of_ceiling: float = 0.5
    freshness_p95_s: float = 2.0  # into Cassandra and into MySQL
    freshness_of_floor: float = 1.5  # the engine floor's p95, same rate, same stack
    drain_orders_per_s: int = 5_000
    drain_of_ceiling: float = 0.8  # of ceiling (a), the connector writing from memory
    spark_driver_peak_mb: int = 2_000  # the driver JVM; its Python processes are shown beside it
    api_peak_mb: int = 300
    dashboard_chart_s: float = 1.0  # each chart's chart-data answer, the median of its slowest time range


TARGETS = Targets()
COLUMNS = ("measure", "result", "ceiling", "ratio", "target", "met")
_STARTED = time.monotonic()


def say(message: str) -> None:
    """One progress line, stamped with the seconds since the benchmark started."""
    print(f"{time.monotonic() - _STARTED:7.1f}s  {message}", flush=True)


class Every:
    """Calling it answers True once every `seconds`: progress lines from inside loops."""

    def __init__(self, seconds: float):
        self.seconds, self.last = seconds, time.monotonic()

    def __call__(self) -> bool:
        if time.monotonic() - self.last < self.seconds:
            return False
        self.last = time.monotonic()
        return True


def distribution(values: list[float]) -> dict[str, float]:
    """Nearest-rank p50, p95, p99 and the maximum of values (all 0 when empty)."""
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values, default=0.0),
    }


@dataclass(frozen=True)
class Row:
    measure: str
    result: str
    ceiling: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None  # None: no target for this measure


def rate(orders_per_s: float) -> str:
    return f"{orders_per_s:,.0f} orders/s"


def latency(ms: dict[str, float]) -> str:
    return f"p50 {ms['p50']:.1f} / p95 {ms['p95']:.1f} / p99 {ms['p99']:.1f} ms"


def not_accepted(step: dict) -> str:
    missing = step["orders"] - step["accepted"]
    return f"; {missing:,} NOT ACCEPTED {step['errors']}" if missing else ""


def ingest_rows(ingest: dict) -> list[Row]:
    steps, ceiling, target = ingest["steps"], ingest["ceiling"], TARGETS
    single, single_open = steps["single_closed_loop"], steps["single_open_loop"]
    batch, batch_open = steps["batch_closed_loop"], steps["batch_open_loop"]
    direct = f"{rate(ceiling['orders_per_s'])} direct to Kafka"

    def measured(step: dict) -> str:
        return f"{rate(step['orders_per_s'])}; {latency(step['latency_ms'])}{not_accepted(step)}"

    return [
        Row(
            f"ingest single, closed loop, {single['connections']} connections",
            measured(single),
            direct,
            f"{ingest['single_of_ceiling']:.2f}",
            f">= {target.single_orders_per_s:,} orders/s",
            single["orders_per_s"] >= target.single_orders_per_s,
        ),
        Row(
            f"ingest single, open loop at {single_open['rate']:,.0f}/s",
            measured(single_open),
            target=f"p99 < {target.single_open_loop_p99_ms} ms",
            met=single_open["latency_ms"]["p99"] < target.single_open_loop_p99_ms,
        ),
        Row(
            f"ingest batch of {batch['per_request']}, closed loop, {batch['connections']} in flight",
            measured(batch),
            direct,
            f"{ingest['batch_of_ceiling']:.2f}",
            f">= {target.batch_orders_per_s:,} orders/s, ratio >= {target.batch_of_ceiling:.2f}",
            batch["orders_per_s"] >= target.batch_orders_per_s
            and ingest["batch_of_ceiling"] >= target.batch_of_ceiling,
        ),
        Row(
            f"ingest batch of {batch_open['per_request']}, open loop at {batch_open['rate']:,.0f}/s",
            measured(batch_open),
        ),
    ]


def delays(seconds: dict[str, float]) -> str:
    return f"p50 {seconds['p50']:.2f} / p95 {seconds['p95']:.2f} / max {seconds['max']:.2f} s"


def freshness_rows(freshness: dict, floor: dict | None = None) -> list[Row]:
    """Each store's freshness, beside the engine floor's p95 when the floor phase ran."""
    target, at = TARGETS, f"at {freshness['rate']:,.0f} orders/s"
    floor_p95 = floor["delay_s"]["p95"] if floor else None
    rows = []
    for store, what, sampled in (("cassandra", "Cassandra row", "sampled"), ("mysql", "MySQL window", "orders")):
        p95 = freshness[store]["delay_s"]["p95"]
        of_floor = p95 / floor_p95 if floor_p95 else None
        rows.append(
            Row(
                f"freshness 202 -> {what}, {at} ({freshness[store]['orders']:,} {sampled})",
                delays(freshness[store]["delay_s"]),
                f"floor p95 {floor_p95:.2f} s" if floor_p95 else "",
                f"{of_floor:.2f}" if of_floor else "",
                f"p95 <= {target.freshness_p95_s:.0f} s"
                + (f", ratio <= {target.freshness_of_floor:.1f}" if of_floor else ""),
                p95 <= target.freshness_p95_s and (of_floor is None or of_floor <= target.freshness_of_floor),
            )
        )
    return rows


def floor_rows(floor: dict) -> list[Row]:
    return [
        Row(
            f"engine floor: Kafka -> parse -> one job a batch, at {floor['rate']:,.0f} orders/s "
            f"({floor['accepted']:,} orders)",
            delays(floor["delay_s"]) + not_accepted(floor),
        )
    ]


def drain_rows(drain: dict) -> list[Row]:
    connector, jvm, target = drain["ceiling"]["connector"], drain["ceiling"]["jvm"], TARGETS
    measured = f"{drain['orders']:,} preloaded orders"
    rows = [
        Row(
            f"drain {measured} into both stores",
            f"{rate(drain['orders_per_s'])} ({drain['seconds']:.1f} s from job start; "
            f"{rate(drain['orders_per_s_after_answering'])} after it answered)",
            f"(a) {rate(connector['orders_per_s'])}: the connector, from memory, both tables",
            f"{drain['of_connector']:.2f}",
            f">= {target.drain_orders_per_s:,} orders/s, ratio >= {target.drain_of_ceiling:.1f}",
            drain["orders_per_s"] >= target.drain_orders_per_s and drain["of_connector"] >= target.drain_of_ceiling,
        ),
        Row(
            f"drain {measured}, against Cassandra's own write rate",
            rate(drain["orders_per_s"]),
            f"(b) {rate(jvm['orders_per_s'])}: Java driver async inserts, both tables",
            f"{drain['of_jvm']:.2f}",
        ),
    ]
    if warm := drain.get("orders_per_s_warm"):  # none when the whole backlog came in one batch
        ceiling, ratio = f"(a) {rate(connector['orders_per_s'])}", f"{warm / connector['orders_per_s']:.2f}"
        rows.insert(1, Row(f"drain {measured}, once the first batch committed (warm)", rate(warm), ceiling, ratio))
    return rows


def reconcile_rows(phase: dict) -> list[Row]:
    hours = f"{phase['hours']} h"
    rows = [
        Row(
            f"{name} over {hours}, {phase[key]['orders']:,} orders",
            f"{rate(phase[key]['orders_per_s'])} ({phase[key]['seconds']:.0f} s with spark-submit; "
            f"{phase[key]['windows_differing']:,} windows differ)",
        )
        for name, key in (("reconcile", "reconcile"), ("backfill of every window", "backfill"))
    ]
    if phase["cassandra_bytes_per_order"]:
        rows.append(Row("Cassandra `orders`: bytes on disk per order", f"{phase['cassandra_bytes_per_order']:,.0f} B"))
    return rows


def dashboard_rows(dashboard: dict) -> list[Row]:
    target = TARGETS.dashboard_chart_s
    days = dashboard["minutes"] / 1440
    rows = []
    for title, ranges in sorted(dashboard["charts"].items()):
        slowest_range, slowest = max(ranges.items(), key=lambda item: item[1]["median_s"])
        rows.append(
            Row(
                f"dashboard chart {title!r}, {days:.1f} days at {dashboard['rate']} orders/s",
                f"median {slowest['median_s'] * 1000:,.0f} ms on {slowest_range} ("
                + ", ".join(f"{name} {timing['median_s'] * 1000:,.0f}" for name, timing in ranges.items())
                + ")",
                target=f"< {target:.0f} s",
                met=slowest["median_s"] < target,
            )
        )
    return rows


def memory_rows(memory: dict[str, dict]) -> list[Row]:
    limits = {"api": TARGETS.api_peak_mb, "spark_jvm": TARGETS.spark_driver_peak_mb}
    rows = []
    for name, peak in memory.items():
        limit = limits.get(name)
        rows.append(
            Row(
                f"peak resident memory: {peak['what']}",
                f"{peak['peak_mb']:,.0f} MB",
                target=f"< {limit:,} MB" if limit else "",
                met=peak["peak_mb"] < limit if limit else None,
            )
        )
    return rows


def rows(results: dict) -> list[Row]:
    """The table's rows for the phases that ran."""
    phases = results["phases"]
    makers = {
        "ingest": ingest_rows,
        "floor": floor_rows,
        "freshness": lambda freshness: freshness_rows(freshness, phases.get("floor")),
        "drain": drain_rows,
        "reconcile": reconcile_rows,
        "dashboard": dashboard_rows,
    }
    found = [row for name, make in makers.items() if name in phases for row in make(phases[name])]
    return found + memory_rows(results["memory"])


def render(table: list[Row]) -> str:
    """A Markdown table, padded to line up in a terminal."""
    cells = [COLUMNS] + [
        (r.measure, r.result, r.ceiling, r.ratio, r.target, "" if r.met is None else "yes" if r.met else "NO")
        for r in table
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = [
        "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |" for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def write(results: dict, folder: Path) -> Path:
    """The results as `<run id>.json` in folder, and a copy as latest.json; the first's path."""
    folder.mkdir(parents=True, exist_ok=True)
    table = [asdict(row) for row in rows(results)]
    text = json.dumps({**results, "table": table, "targets": asdict(TARGETS)}, indent=2)
    path = folder / f"{results['run_id']}.json"
    path.write_text(text)
    (folder / "latest.json").write_text(text)
    return path
