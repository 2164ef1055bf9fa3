"""The `stockstream` command: worker, topics create, produce, consume, demo.

Topic arguments are logical names (inventory.events, catalog.items, ...); the CLI adds
STOCKSTREAM_TOPIC_PREFIX.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Sequence

from streams.app.settings import LOG_FORMATS, Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["worker"]:
        return run_worker(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        print(f"stockstream: {err}", file=sys.stderr)
        return 2
    if args.run not in OFFLINE:
        from streams.cli.kafka import Unreachable, check_reachable

        try:
            check_reachable(settings)
        except Unreachable as err:
            print(f"stockstream: {err}", file=sys.stderr)
            return 2
    return args.run(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stockstream", description="Kafka-native available-to-sell engine")
    sub = parser.add_subparsers(metavar="COMMAND")
    sub.add_parser("worker", help="run a stream worker (Faust): --log-format json|text; other options go to "
                                  "Faust's worker")

    topics = sub.add_parser("topics", help="manage stockstream's topics").add_subparsers(metavar="ACTION")
    create = topics.add_parser("create", help="create every topic (idempotent)")
    create.set_defaults(run=_topics_create)

    policies = sub.add_parser("policies", help="channel and location policies").add_subparsers(metavar="ACTION")
    apply = policies.add_parser("apply", help="check a policies YAML file and put it in force")
    apply.add_argument("file")
    apply.set_defaults(run=lambda args, settings: _policies("apply", args, settings))
    show = policies.add_parser("show", help="print the policies in force, as YAML")
    show.set_defaults(run=lambda args, settings: _policies("show", args, settings))

    produce = sub.add_parser("produce", help="send JSON lines as Avro records")
    produce.add_argument("file", help="a .jsonl file, or - for standard input")
    produce.add_argument("--topic", default="inventory.events", help="logical topic name (default inventory.events)")
    produce.set_defaults(run=_produce)

    consume = sub.add_parser("consume", help="print a topic's records as JSON lines")
    consume.add_argument("topic", help="logical topic name, e.g. availability.locations")
    consume.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    consume.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                         help="stop after S seconds without a record")
    consume.add_argument("--max", type=int, default=None, metavar="N", help="stop after N records")
    consume.add_argument("--values", action="store_true",
                         help="only each record's value, as `produce` reads it (copy a topic to another deployment)")
    consume.set_defaults(run=_consume)

    demo = sub.add_parser("demo", help="drive demo traffic through a running worker and show it")
    demo.set_defaults(run=_demo)

    simulate = sub.add_parser("simulate", help="a random scenario (--out), or what policies would have done "
                                                "with an event history (--policies)")
    simulate.add_argument("--out", help="folder for a random scenario: catalog.jsonl, events.jsonl, expected.json")
    simulate.add_argument("--events", metavar="N|FILE",
                          help="with --out: how many events (default 5000); with --policies: the history (.jsonl)")
    simulate.add_argument("--seed", type=int, help="random scenario (default 1)")
    simulate.add_argument("--skus", type=int, help="random scenario (default 5)")
    simulate.add_argument("--locations", type=int, help="random scenario (default 3)")
    simulate.add_argument("--policies", metavar="FILE", help="what-if: the policies YAML to try")
    simulate.add_argument("--baseline-sync-minutes", type=float, metavar="M",
                          help="what-if: the batch sync compared with (default 15)")
    simulate.add_argument("--catalog", metavar="FILE", help="what-if: the item master (.jsonl), for units other than EA")
    simulate.add_argument("--json", action="store_true", help="what-if: JSON instead of a table")
    simulate.set_defaults(run=_simulate)

    sink = sub.add_parser("sink", help="channel adapters (sinks.yaml)").add_subparsers(metavar="ACTION")
    run_sink = sink.add_parser("run", help="run one sink: its own process and consumer group")
    run_sink.add_argument("name")
    run_sink.add_argument("--config", required=True, help="the sinks YAML file")
    run_sink.add_argument("--metrics", metavar="[HOST:]PORT", help="serve Prometheus metrics at /metrics there")
    run_sink.add_argument("--log-format", choices=LOG_FORMATS, help="json lines (default: STOCKSTREAM_LOG_FORMAT) "
                          "or text")
    run_sink.add_argument("--once", action="store_true",
                          help="send what the topic holds now, then stop (an EDI file on demand, a catch-up)")
    run_sink.set_defaults(run=_sink_run)
    list_sinks = sink.add_parser("list", help="the sinks configured, and each one's lag")
    list_sinks.add_argument("--config", required=True, help="the sinks YAML file")
    list_sinks.set_defaults(run=_sink_list)

    replay = sub.add_parser("replay-dlq", help="send dead letters back to the topic they came from")
    replay.add_argument("--topic", default="inventory.dlq", help="the DLQ, e.g. sinks.shop.dlq (default inventory.dlq)")
    replay.add_argument("--since", help="only letters that failed at or after this time (ISO 8601)")
    replay.add_argument("--reason", help="only letters whose reason contains this text")
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed, send nothing")
    replay.set_defaults(run=_replay)

    verify = sub.add_parser("verify", help="compare GET /positions of a running worker with an expected.json")
    verify.add_argument("expected", help="expected.json, as `simulate` writes it")
    verify.add_argument("--timeout", type=float, default=60, help="seconds to wait for the worker to catch up")
    verify.set_defaults(run=_verify)
    return parser


def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    """uvloop: most of a worker's time per record is Faust's and aiokafka's event-loop work
    (futures, callbacks, socket writes), which uvloop does in C."""
    import uvloop

    return uvloop.EventLoopPolicy()


def worker_options(extra: list[str]) -> tuple[str | None, list[str]]:
    """--log-format, ours; the rest goes to Faust's worker."""
    parser = argparse.ArgumentParser(prog="stockstream worker", add_help=False, allow_abbrev=False)
    parser.add_argument("--log-format", choices=LOG_FORMATS)
    known, rest = parser.parse_known_args(extra)
    return known.log_format, rest


def run_worker(extra: list[str]) -> int:
    log_format, extra = worker_options(extra)
    try:
        Settings.from_env()
    except SettingsError as err:
        print(f"stockstream: {err}", file=sys.stderr)
        return 2
    asyncio.set_event_loop_policy(event_loop_policy())  # before the app makes its loop
    from streams.app.settings import LOG_LEVELS
    from pathlib import Path

    from streams.app import local_state, logs
    from streams.app.security import refusal
    from streams.wire.codec import default_codec
    from streams.worker import app, settings

    log_format = log_format or settings.log_format
    # Faust's worker configures logging with it; what is logged before that goes through it too.
    app.conf.logging_config = logs.config(log_format, settings.log_level)
    logs.setup(log_format, settings.log_level)
    refused = asyncio.run(refusal(settings))
    if refused:
        print(f"stockstream: {refused}", file=sys.stderr)
        return 2
    local_state.prepare(Path(app.conf.tabledir))
    # With a schema registry: our schemas' ids before any record is written (encode needs
    # no look-up then); a registry that cannot be reached stops the start, loudly.
    asyncio.run(default_codec().register_all())
    # JSON: no banner, so a log shipper reads JSON lines only.
    quiet = ["--quiet"] if log_format == "json" else []
    sys.argv = ["stockstream", *quiet, "worker", "--loglevel", LOG_LEVELS[settings.log_level.lower()], *extra]
    app.main()
    return 0


def _topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.kafka import create_topics

    return create_topics(settings)


def _policies(action: str, args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli import policies

    return policies.apply(settings, args.file) if action == "apply" else policies.show(settings)


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.kafka import produce_file

    return produce_file(settings, args.file, args.topic)


def _consume(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.kafka import consume

    return consume(settings, args.topic, args.from_beginning, args.idle_timeout, args.max, args.values)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.demo import run

    return run(settings)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.simulate import run

    return run(args, settings.limits())


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.verify import verify

    return verify(settings, args.expected, args.timeout)


def _sink_run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli import sinks

    return sinks.run(settings, args.config, args.name, args.metrics, args.once, args.log_format)


def _sink_list(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli import sinks

    return sinks.show(settings, args.config)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from streams.cli.replay import replay

    return replay(settings, args.topic, args.since, args.reason, args.dry_run)


OFFLINE = {_simulate, _produce}  # need no broker, or check it themselves after checking their input


if __name__ == "__main__":
    sys.exit(main())
