"""Opening the byte stream to a concentrator: a serial device through serialx, or a TCP bridge.

``socket://host:port`` goes through plain asyncio streams (a TCP bridge such as ser2net, or the
simulator); anything else is a serial device path opened with ``serialx``, the library Home
Assistant itself pins. Failures are translated into the few errors a user can act on.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_BAUDRATE = 115200
CONNECT_TIMEOUT = 5.0


class ConnectError(Exception):
    """The concentrator could not be reached; the message says why in words a user can act on."""


class PortNotFound(ConnectError):
    pass


class PortPermissionDenied(ConnectError):
    pass


class PortBusy(ConnectError):
    pass


class HostUnreachable(ConnectError):
    pass


class InvalidAddress(ConnectError, ValueError):
    """Neither a device path nor ``socket://host:port`` (e.g. serialx's ``loop://``)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    host: str | None = None
    port: int | None = None

    @property
    def is_tcp(self) -> bool:
        return self.host is not None

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        url = url.strip()
        if url.startswith("socket://"):
            parts = urlsplit(url)
            if not parts.hostname or parts.port is None:
                raise InvalidAddress(f"expected socket://host:port, got {url!r}")
            return cls(url, parts.hostname, parts.port)
        if "://" in url:
            raise InvalidAddress(
                f"unsupported URL {url!r}: use a device path or socket://host:port"
            )
        if not url:
            raise InvalidAddress("empty port")
        return cls(url)


async def open_transport(
    url: str,
    protocol_factory: Callable[[], asyncio.Protocol],
    *,
    baudrate: int = DEFAULT_BAUDRATE,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> asyncio.BaseTransport:
    """Connect ``protocol_factory()`` to the concentrator at ``url``; return the transport."""
    endpoint = Endpoint.parse(url)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(connect_timeout):
            if endpoint.host is not None and endpoint.port is not None:
                transport, _ = await loop.create_connection(
                    protocol_factory, endpoint.host, endpoint.port
                )
            else:
                import serialx

                transport, _ = await serialx.create_serial_connection(
                    loop, protocol_factory, endpoint.url, baudrate=baudrate
                )
    except TimeoutError as err:
        raise HostUnreachable(f"{url}: no answer within {connect_timeout:.0f} s") from err
    except FileNotFoundError as err:
        raise PortNotFound(f"{url}: no such serial port (unplugged?)") from err
    except PermissionError as err:
        raise PortPermissionDenied(
            f"{url}: permission denied (add the user to the 'dialout' group)"
        ) from err
    except ConnectionRefusedError as err:
        raise HostUnreachable(f"{url}: connection refused (is the bridge running?)") from err
    except OSError as err:
        raise _translate_os_error(url, err) from err
    except Exception as err:
        # serialx wraps OS errors in its own SerialException; keep the cause's meaning.
        cause = err.__cause__ or err.__context__
        if isinstance(cause, OSError):
            raise _translate_os_error(url, cause) from err
        raise ConnectError(f"{url}: {err}") from err
    return transport


def _translate_os_error(url: str, err: OSError) -> ConnectError:
    if err.errno == errno.ENOENT:
        return PortNotFound(f"{url}: no such serial port (unplugged?)")
    if err.errno in (errno.EACCES, errno.EPERM):
        return PortPermissionDenied(f"{url}: permission denied (add the user to 'dialout')")
    if err.errno == errno.EBUSY:
        return PortBusy(f"{url}: port is in use by another program")
    if err.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
        return HostUnreachable(f"{url}: {err.strerror}")
    return ConnectError(f"{url}: {err.strerror or err}")
