"""The one Faust app of a stockstream deployment.

Its id carries STOCKSTREAM_TOPIC_PREFIX, so consumer groups and changelog topics of two
deployments on one cluster never meet. Values travel as raw bytes: agents decode them
themselves, so a record that fails to decode reaches the DLQ instead of being skipped.
"""

from __future__ import annotations

import functools
import asyncio
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

import faust
from prometheus_client import REGISTRY

from streams.app import local_state
from streams.app.monitor import LeanMonitor
from streams.app.scheduling import DownstreamFirst
from streams.app.security import ssl_context
from streams.app.settings import LOG_LEVELS, Settings
from streams.app import compat, topics
from streams.app.metrics import ConsumerLag

log = logging.getLogger(__name__)
settings = Settings.from_env()


def broker_credentials(conf: Settings) -> faust.types.auth.CredentialsT | None:
    protocol = conf.security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(conf)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=conf.sasl_username,
            password=conf.sasl_password.get(),
            mechanism=conf.sasl_mechanism.upper(),
            ssl_context=context,
        )
    return faust.SSLCredentials(context)


class Worker(faust.Worker):
    """Faust's worker without its progress spinner, which writes terminal codes to stdout even
    when that is no terminal (at log levels from warn): a stream of JSON lines must hold only those."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None


class App(compat.App):
    async def on_stop(self) -> None:
        await super().on_stop()  # streams drained, the producer flushed
        local_state.mark_clean(Path(self.conf.tabledir))


def scheduler(conf: Settings) -> type[DownstreamFirst]:
    """Records of the engine's own topics before inventory.events (streams/app/scheduling.py)."""
    return type("Scheduler", (DownstreamFirst,), {"upstream": frozenset({conf.topic(topics.EVENTS)})})


def create_app(conf: Settings) -> faust.App:
    return App(
        conf.app_id,
        broker=f"kafka://{conf.kafka_bootstrap}",
        broker_credentials=broker_credentials(conf),
        store="rocksdb://",  # served by rocksdict (faust picks it when installed)
        datadir=conf.data_dir,
        topic_partitions=conf.partitions,
        topic_replication_factor=conf.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        web_port=conf.web_port,
        web_bind=conf.web_bind,
        canonical_url=f"http://{conf.web_host}:{conf.web_port}",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=conf.session_timeout,
        broker_heartbeat_interval=min(3.0, conf.session_timeout / 6),
        consumer_group_instance_id=conf.group_instance_id or None,
        producer_acks=-1,
        # Batch what one record produces (changelog + outputs) into fewer requests.
        producer_linger=0.005,
        # Small fetches per partition: a batch is a few hundred events per partition, so the
        # records the stages send each other are not queued behind a large backlog of them.
        consumer_max_fetch_size=256 * 1024,
        ConsumerScheduler=scheduler(conf),
        Monitor=LeanMonitor,  # Faust's per-record bookkeeping, without what nobody reads
        # Each changelog write is one record; tables keep no extra in-memory copy.
        table_standby_replicas=1,
        # Only documented routes: Faust's own table, router, graph and stats views answer
        # without a token and show positions and order ids.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        autodiscover=False,
        # every send filed under the record it came from (streams/app/delivery.py), its
        # topic tracked by the producer's client (compat hook 8)
        Topic=compat.Topic,
        # ownership known only once the latest assignment's tables are recovered (hook 9)
        PartitionAssignor=compat.Assignor,
        TableManager=compat.TableManager,
        logging_config=None,  # set by `stockstream worker` (streams/cli run_worker)
        Worker=Worker,
    )


app = create_app(settings)
REGISTRY.register(ConsumerLag(app))


def timer(seconds: float) -> Callable[[Callable[[], Awaitable[None]]], Any]:
    """app.timer for a job that must never stop the worker (see guarded)."""
    return lambda job: app.timer(seconds)(guarded(job, seconds))


def guarded(job: Callable[[], Awaitable[None]], seconds: float) -> Callable[[], Awaitable[None]]:
    """An exception in a Faust timer crashes the whole app: it is logged here instead, and the
    job runs again at its next interval."""
    @functools.wraps(job)
    async def run() -> None:
        try:
            await job()
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("timer %s failed; it runs again in %ss", job.__name__, seconds)
    return run


_topics: dict[str, faust.Topic] = {}


def topic(logical: str) -> faust.Topic:
    """The Faust topic of a logical name (streams/app/topics.py: the one registry), one object
    per name. Values travel as raw bytes: each stage decodes and encodes them itself."""
    found = _topics.get(logical)
    if found is None:
        spec = topics.spec(logical)
        found = _topics[logical] = app.topic(
            settings.topic(logical), partitions=spec.partitions or settings.partitions,
            compacting=spec.compacted, key_serializer="raw", value_serializer="raw",
        )
    return found


@app.task
async def root_logger_at_the_configured_level() -> None:
    """mode's worker leaves the root logger at DEBUG whatever --loglevel says (only its handler
    filters), so every debug call of aiokafka and Faust builds a record per message: a few
    percent of a worker's time. The root logger is set to the level asked for."""
    logging.getLogger().setLevel(LOG_LEVELS[settings.log_level.lower()].upper().replace("CRIT", "CRITICAL"))
    log.info("event loop: %s.%s", type(asyncio.get_running_loop()).__module__, type(asyncio.get_running_loop()).__name__)
