"""The TLS context every Kafka client of the engine uses (Faust's, the sinks' aiokafka
clients), from settings: the CA to trust and, when the broker asks for one, our certificate."""

from __future__ import annotations

import ssl

from streams.app.settings import Settings, SettingsError


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
