"""The server's TLS context, built from the configured certificate, key and CA files."""

from __future__ import annotations

import ssl

from kvstore.config import ServerConfig


class TLSSetupError(Exception):
    """The certificate, key or CA file cannot be used; the message is one line."""


def server_context(config: ServerConfig) -> ssl.SSLContext:
    """A TLS 1.2+ server context; client certificates are required when a CA file is given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert_file, config.tls_key_file, password=_no_password)
    except (OSError, ValueError) as exc:
        raise TLSSetupError(
            f"cannot load the TLS certificate {config.tls_cert_file} with the key "
            f"{config.tls_key_file}: {_reason(exc)}"
        ) from None
    if config.tls_ca_cert_file:
        try:
            context.load_verify_locations(cafile=config.tls_ca_cert_file)
        except (OSError, ValueError) as exc:
            raise TLSSetupError(
                f"cannot load the TLS CA certificates {config.tls_ca_cert_file}: {_reason(exc)}"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _no_password() -> str:
    # An encrypted key fails to load rather than OpenSSL prompting on the terminal.
    return ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        if exc.reason:
            return exc.reason.lower().replace("_", " ")
        return "not a PEM certificate with its unencrypted private key"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
