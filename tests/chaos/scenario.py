"""One fault run (issue 13), in order:
1. policies and catalog on the log, the workers started and healthy;
2. the seeded stream produced, stopping at one mark per fault: the fault is injected there,
   the stream goes on while its victim is down, and the time until every worker answers
   /health 200 again (and still does a second later) is taken;
3. the stream's end; the time from the last fault until the workers' consumer group has
   committed every record (lag 0);
4. the independent verifier's verdict (tests/chaos/verifier.py), one result line
   (harness.record_result), and the assertions: no anomaly, every figure matching, no lag.

A fault is a function of `resume` (lets the stream go on; called anyway once the fault
returns) that injects and repairs, and says what it did."""

from __future__ import annotations

import os
import shutil
import time
from typing import Any, Callable, Sequence

from streams.testing.clients import apply_policies
from streams.testing.deployment import BOOTSTRAP, Deployment, LocalBroker, Worker
from tests.chaos.harness import PUBLISH_INTERVAL, Stream, lag_after, prepare, record_result, wait_all_healthy
from tests.chaos.verifier import verify_settled

EVENTS = int(os.environ.get("STOCKSTREAM_CHAOS_EVENTS", "1500"))
SKUS, LOCATIONS = 6, 3
HEALTH_SECONDS = 180  # a restart on an empty disk restores every changelog first

Fault = Callable[[Callable[[], None]], str]


class Scenario:
    def __init__(self, deployment: Deployment, root, workers: Sequence[str] = ("w1", "w2"),
                 skus: int = SKUS) -> None:
        self.deployment, self.partitions, self.skus = deployment, deployment.settings.partitions, skus
        self.started, self.root = time.monotonic(), root
        prepare(deployment, root, skus)
        self.workers: dict[str, Worker] = {name: deployment.worker(name, wait=False) for name in workers}
        self.disks = {name: name for name in workers}
        self.restarts = 0
        wait_all_healthy(self.live(), HEALTH_SECONDS)
        self.injected: list[str] = []
        self.to_health: list[float] = []
        self.last_fault = time.monotonic()
        self.stream: Stream | None = None

    def live(self) -> list[Worker]:
        return list(self.workers.values())

    def positions(self, worker: Worker) -> dict[str, dict[str, Any] | None]:
        """Every SKU@LOCATION of the stream as GET /positions shows it now."""
        return {f"SKU-{n}@WH{m}": worker.position(f"SKU-{n}", f"WH{m}")
                for n in range(self.skus) for m in range(LOCATIONS)}

    # -- faults on workers ------------------------------------------------------------------

    def _restart(self, name: str) -> Worker:
        """The worker `name` again, a new process on its disk (its own, or the one given)."""
        self.restarts += 1
        self.workers[name] = self.deployment.worker(f"{name}-{self.restarts}", wait=False, disk=self.disks[name])
        return self.workers[name]

    def kill(self, name: str, fresh_disk: bool = False) -> Fault:
        def fault(resume: Callable[[], None]) -> str:
            self.workers[name].kill()
            if fresh_disk:
                self.disks[name] = f"{name}-empty-{self.restarts}"
            self._restart(name)
            return f"SIGKILL {name}, restarted at once on {'an empty' if fresh_disk else 'its own'} disk"
        return fault

    def terminate(self, name: str, wipe: bool = False) -> Fault:
        """SIGTERM (a clean stop: commits and flushes), then the same worker again; wipe: its
        local RocksDB removed in between, so it rebuilds its tables from the changelogs."""
        def fault(resume: Callable[[], None]) -> str:
            self.workers[name].stop()
            if wipe:
                data = self.deployment.root / f"{self.disks[name]}-data"
                assert data.is_dir(), f"{name} kept no data at {data}"
                shutil.rmtree(data)
            self._restart(name)
            return f"SIGTERM {name}, {'its local state wiped, ' if wipe else ''}restarted"
        return fault

    def add(self, name: str) -> Fault:
        def fault(resume: Callable[[], None]) -> str:
            self.workers[name] = self.deployment.worker(name, wait=False)
            self.disks[name] = name
            return f"{name} added"
        return fault

    def apply_policies(self, text: str) -> Fault:
        """`stockstream policies apply` while the workers run and the stream goes on."""
        def fault(resume: Callable[[], None]) -> str:
            resume()
            apply_policies(self.deployment, self.root, text)
            return "other policies applied to the running workers"
        return fault

    def remove(self, name: str) -> Fault:
        def fault(resume: Callable[[], None]) -> str:
            self.workers.pop(name).stop()
            return f"{name} removed (SIGTERM)"
        return fault

    # -- faults on the broker ---------------------------------------------------------------

    @staticmethod
    def broker_killed() -> Fault:
        def fault(resume: Callable[[], None]) -> str:
            broker = LocalBroker()
            broker.kill()
            try:
                resume()  # producers retry while it is away
            finally:
                broker.start()
            return "broker SIGKILLed, restarted at once"
        return fault

    @staticmethod
    def broker_stopped(seconds: float, during: Callable[[], None] | None = None) -> Fault:
        """The broker stopped (SIGTERM) for `seconds` while the stream goes on; `during` runs
        in the outage (e.g. clients asking the workers), within those seconds."""
        def fault(resume: Callable[[], None]) -> str:
            broker = LocalBroker()
            broker.stop()
            stopped = time.monotonic()
            try:
                resume()
                if during is not None:
                    during()
                time.sleep(max(0.0, seconds - (time.monotonic() - stopped)))
            finally:
                broker.start()
            return f"broker stopped for {seconds:.0f}s"
        return fault

    # -- the run ----------------------------------------------------------------------------

    def run(self, records: Sequence[dict[str, Any]], faults: Sequence[Fault]) -> None:
        """The stream with each fault at its own mark, spread evenly; returns at its end."""
        marks = [len(records) * k // (len(faults) + 1) for k in range(1, len(faults) + 1)]
        self.stream = Stream(self.deployment, records, marks)
        self.stream.start()
        for fault in faults:
            mark = self.stream.fault_at()
            self.last_fault = time.monotonic()
            resumed = []

            def resume() -> None:
                if not resumed:
                    resumed.append(True)
                    self.stream.go_on()
            what = fault(resume)
            resume()
            wait_all_healthy(self.live(), HEALTH_SECONDS)
            self.to_health.append(round(time.monotonic() - self.last_fault, 1))
            self.injected.append(f"{what} after {mark} events")
        self.stream.finish()

    def judge(self, fault: str, events: int, **extra: Any) -> None:
        """Lag 0, then the verifier; one result line; the assertions. events: records produced
        in all (the stream's and any added by the test)."""
        behind = lag_after(self.deployment, 30 + events / 250)
        to_lag_0 = None if behind else round(time.monotonic() - self.last_fault, 1)
        verifying = time.monotonic()
        port = self.live()[0].port
        verdict = verify_settled(self.deployment.prefix, BOOTSTRAP, port,
                                 settle_seconds=10 * PUBLISH_INTERVAL + 10 + events / 500)
        record_result({
            "fault": fault, "events": events, "workers": len(self.workers), "partitions": self.partitions,
            "injected": self.injected, "seconds_to_health": self.to_health,
            "seconds_last_fault_to_lag_0": to_lag_0, "producer_batches_retried": self.stream.retried,
            **extra, "lag_left": behind, "verifier_seconds": round(time.monotonic() - verifying, 1),
            "runtime_seconds": round(time.monotonic() - self.started, 1), "verdict": verdict.counts(),
        })
        print(verdict.report())
        if not verdict.ok:
            print(self.warnings())
        for worker in self.live():
            assert worker.process.poll() is None, f"{worker.name} exited:\n{worker.tail()}"
        assert verdict.ok, verdict.report()
        assert verdict.records >= events, f"{verdict.records} records on the log, {events} produced"
        assert not behind, f"lag not 0 (topic[partition]: committed, end): {behind}"

    def warnings(self, most: int = 30) -> str:
        """Every worker process's warnings and errors, for a failed run's report."""
        out = []
        for log in sorted(self.deployment.root.glob("*.log")):
            lines = [line[:400] for line in log.read_text(errors="replace").splitlines()
                     if '"warning"' in line or '"error"' in line or "Traceback" in line]
            out.append(f"--- {log.name}: {len(lines)} warnings and errors" + "".join(f"\n{line}" for line in lines[:most]))
        return "\n".join(out)
