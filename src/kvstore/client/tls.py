"""TLS for the clients: the context built from the ``tls``/``ca_certs``/``certfile``/``keyfile``
arguments, and one-line wording for TLS failures."""

from __future__ import annotations

import ssl


def client_context(
    tls: bool | ssl.SSLContext,
    ca_certs: str | None,
    certfile: str | None,
    keyfile: str | None,
) -> ssl.SSLContext | None:
    """The context to wrap connections in, or ``None`` for plain TCP.

    ``tls`` may be a ready context; otherwise any of the file arguments implies TLS. The
    server's certificate is verified (against ``ca_certs``, else the system's CAs) and must name
    the host connected to. ``certfile`` (with ``keyfile``, unless the key is in the same file)
    is the client's certificate, for servers that require one. Raises ``ValueError`` with one
    line when a file cannot be used.
    """
    if isinstance(tls, ssl.SSLContext):
        if ca_certs or certfile or keyfile:
            raise ValueError("give either an ssl.SSLContext or ca_certs/certfile/keyfile")
        return tls
    if not (tls or ca_certs or certfile or keyfile):
        return None
    if keyfile and not certfile:
        raise ValueError("a TLS key file needs its certificate file too")
    try:
        context = ssl.create_default_context(cafile=ca_certs)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load the CA certificates {ca_certs}: {tls_reason(exc)}") from None
    if certfile:
        try:
            context.load_cert_chain(certfile, keyfile, password=_no_password)
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"cannot load the client certificate {certfile}: {tls_reason(exc)}"
            ) from None
    return context


def _no_password() -> str:
    # An encrypted key fails to load rather than OpenSSL prompting on the terminal.
    return ""


def tls_reason(exc: BaseException) -> str:
    """A TLS failure in a few words: what verification said, or OpenSSL's reason."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        return "TLS error: " + (reason.lower().replace("_", " ") if reason else str(exc))
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
