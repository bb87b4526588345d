"""Peak resident memory of every service while the benchmark runs.

Usage (what `python -m bench` does around its phases):

    sampler = MemorySampler(settings)
    sampler.start()
    ...                      # the phases
    peaks = sampler.stop()   # {"api": {"what": ..., "peak_mb": ...}, "spark": ..., ...}

A thread reads VmRSS from /proc every 0.5 s for each service's process (its
pid asked of the supervisor every time: the drain restarts the Spark job) and
all its descendants, and keeps each service's highest sum. The Spark job is
its driver JVM (the child of spark_jobs/run.sh, the supervised process) and
its Python processes (the driver's Python and the pyspark workers), each
also reported alone. Pages shared by forked processes count once per process, so a sum
can exceed what the machine lost.
"""

import threading
from pathlib import Path

from pipeline.settings import Settings
from pipeline.stack import processes
from pipeline.stack.supervisor import kind_of, pids

INTERVAL_S = 0.5
MB = 1_000_000
DESCRIPTIONS = {
    "kafka": "Kafka broker",
    "cassandra": "Cassandra",
    "mysql": "MariaDB",
    "superset": "Superset",
    "api": "ingest API",
    "spark": "Spark job (driver JVM + Python)",
    "spark_jvm": "Spark driver JVM",
    "spark_python": "Spark Python (driver + workers)",
    "spark-master": "Spark standalone master",
    "spark-worker": "Spark worker, its executor JVM and Python",
}


def resident_bytes(pid: int) -> int:
    """VmRSS of pid; 0 when it has exited meanwhile (or is a zombie, which has none)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # reported in kB
    return 0


def tree_bytes(pid: int) -> int:
    """Resident bytes of pid and all its descendants together."""
    return sum(map(resident_bytes, [pid, *processes.descendants(pid)]))


class MemorySampler:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.peaks: dict[str, int] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, name="memory-sampler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        while True:
            self.sample()
            if self.stopped.wait(INTERVAL_S):
                return

    def sample(self) -> None:
        for name, pid in pids(self.settings).items():
            if kind_of(name) not in DESCRIPTIONS:  # a one-shot step
                continue
            if name != "spark":
                self.keep(name, tree_bytes(pid))
                continue
            # spark_jobs/run.sh, its child the driver JVM, the JVM's children the Python. Only
            # Python ones: a process the JVM is spawning (Hadoop's chmod) shows all the JVM's
            # pages until it execs, and counting it had doubled the JVM in some samples.
            jvms = processes.children(pid)
            pythons = [
                child for jvm in jvms for child in processes.children(jvm) if "python" in processes.command_line(child)
            ]
            jvm_bytes, python_bytes = sum(map(resident_bytes, jvms)), sum(map(tree_bytes, pythons))
            self.keep("spark_jvm", jvm_bytes)
            self.keep("spark_python", python_bytes)
            self.keep("spark", resident_bytes(pid) + jvm_bytes + python_bytes)

    def keep(self, name: str, resident: int) -> None:
        self.peaks[name] = max(resident, self.peaks.get(name, 0))

    def stop(self) -> dict[str, dict]:
        """Stop sampling; each process's peak in MB (10^6 bytes), in DESCRIPTIONS' order
        (a cluster's nodes, `kafka-1` ..., each on its own)."""
        self.stopped.set()
        self.thread.join()
        kinds = list(DESCRIPTIONS)
        return {
            name: {
                "what": DESCRIPTIONS[name] if name in DESCRIPTIONS else f"{DESCRIPTIONS[kind_of(name)]} ({name})",
                "peak_mb": round(self.peaks[name] / MB, 1),
            }
            for name in sorted(self.peaks, key=lambda name: (kinds.index(kind_of(name)), name))
        }
