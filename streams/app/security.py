"""The TLS context every Kafka client of the engine uses (Faust's, the sinks' aiokafka
clients), from settings: the CA to trust and, when the broker asks for one, our certificate;
and, before a worker starts, whether the broker accepts them."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (IllegalSaslStateError, KafkaConnectionError, KafkaError, SaslAuthenticationFailed,
                             UnsupportedSaslMechanismError)

from streams.app.settings import PREFIX, Settings, SettingsError


def ssl_context(conf: Settings) -> ssl.SSLContext | None:
    """None for a protocol without TLS; a file that cannot be read is a SettingsError naming it."""
    if "SSL" not in conf.security_protocol.upper():
        return None
    try:
        context = ssl.create_default_context(cafile=conf.ssl_cafile or None)
        if conf.ssl_certfile:
            context.load_cert_chain(conf.ssl_certfile, conf.ssl_keyfile)
    except (OSError, ssl.SSLError) as err:
        raise SettingsError(f"TLS files (STOCKSTREAM_SSL_CAFILE, _SSL_CERTFILE, _SSL_KEYFILE): {err}") from None
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """What an aiokafka client of the engine (a sink's, a view's reader) connects with."""
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap,
                               "security_protocol": settings.security_protocol.upper()}
    if options["security_protocol"].startswith("SASL"):
        options.update(sasl_mechanism=settings.sasl_mechanism.upper(), sasl_plain_username=settings.sasl_username,
                       sasl_plain_password=settings.sasl_password.get())
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    return options


# What an operator checks when the broker refuses us; the CLI says the same.
CHECK_CREDENTIALS = f"check {PREFIX}SASL_MECHANISM, {PREFIX}SASL_USERNAME and {PREFIX}SASL_PASSWORD"
CHECK_TLS = (f"check {PREFIX}SECURITY_PROTOCOL, {PREFIX}SSL_CAFILE, {PREFIX}SSL_CERTFILE and "
             f"{PREFIX}SSL_KEYFILE")
CHECK_CLIENT_CERTIFICATE = (f"a broker that requires a client certificate does so when it rejects ours: check "
                            f"{PREFIX}SSL_CERTFILE and {PREFIX}SSL_KEYFILE")


async def refusal(conf: Settings, timeout: float = 15) -> str | None:
    """Why the first bootstrap broker refuses this worker's credentials or TLS, else None.

    aiokafka's bootstrap logs the cause and raises only "Unable to bootstrap", so a wrong
    password looked like a missing broker; one direct connection tells them apart. A broker
    that does not answer is None here: the worker's start reports that itself."""
    protocol = conf.security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    host, _, port = conf.kafka_bootstrap.split(",")[0].strip().rpartition(":")
    sasl = protocol.startswith("SASL")
    try:
        connection = await asyncio.wait_for(create_conn(
            host, int(port), ssl_context=ssl_context(conf), security_protocol=protocol,
            sasl_mechanism=conf.sasl_mechanism.upper() if sasl else None,
            sasl_plain_username=conf.sasl_username if sasl else None,
            sasl_plain_password=conf.sasl_password.get() if sasl else None), timeout)
    except (SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError) as err:
        return f"Kafka at {host}:{port} refused the credentials ({err}); {CHECK_CREDENTIALS}"
    except ssl.SSLError as err:
        return f"the TLS handshake with Kafka at {host}:{port} failed ({err}); {CHECK_TLS}"
    except KafkaConnectionError as err:
        # TLS 1.3 rejects a client certificate after the handshake: the broker just closes.
        return f"Kafka at {host}:{port} closed the connection while it was set up ({err}); {CHECK_CLIENT_CERTIFICATE}"
    except (OSError, ValueError, asyncio.TimeoutError, KafkaError):
        return None
    connection.close()
    return None
