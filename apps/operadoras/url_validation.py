"""SSRF guard for the RPA endpoint URL an admin types (standard library only).

Used when the URL is saved and again by the RPA client right before each call, since
DNS answers can change between the two.
"""
import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_LENGTH = 500


def _split(url: str):
    """The URL's parts, or ValueError when it is not an absolute http(s) URL with a host."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("Informe a URL do endpoint do robô.")
    url = url.strip()
    if len(url) > MAX_LENGTH:
        raise ValueError(f"A URL deve ter no máximo {MAX_LENGTH} caracteres.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValueError("A URL não pode conter espaços nem caracteres de controle.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise ValueError("A URL deve começar com http:// ou https://.")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise ValueError("A URL não pode conter usuário ou senha (user:senha@).")
    if not parts.hostname:
        raise ValueError("A URL precisa de um host (ex.: https://robo.exemplo.com.br).")
    try:
        _ = parts.port  # raises for a non-numeric or out-of-range port
    except ValueError as exc:
        raise ValueError("A porta da URL é inválida.") from exc
    return parts


NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix (DNS64 answers on IPv6-only hosts)
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


def _not_public(address) -> bool:
    return (
        address.is_loopback or address.is_link_local or address.is_private or address.is_reserved
        or address.is_multicast or address.is_unspecified or not address.is_global
    )


def _translated_ipv4(address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) address reaches:
    that IPv4 address is the one judged, so a robot behind DNS64 on an IPv6-only host still works."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _carried_ipv4(address) -> list:
    """The IPv4 addresses inside a 6to4 (2002::/16), Teredo (2001::/32) or IPv4-compatible (::a.b.c.d)
    address: a relay or the kernel may deliver the packets to them, so each must be public too."""
    if address.version != 6:
        return []
    carried = []
    if address.sixtofour is not None:
        carried.append(address.sixtofour)
    if address.teredo is not None:
        carried.extend(address.teredo)  # (server, client)
    if address in IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are judged as themselves
        carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return carried


def _is_forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for any address that is not a public, routable unicast address, or that embeds one that is not."""
    translated = _translated_ipv4(address)
    if translated is not None:
        return _not_public(translated)
    return _not_public(address) or any(_not_public(ipv4) for ipv4 in _carried_ipv4(address))


def _resolve(host: str, port: int) -> list:
    """Every IP address the host resolves to; ValueError when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise ValueError(f"O host {host} não foi encontrado (DNS não resolveu).") from exc
    addresses = []
    for info in infos:
        literal = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        try:
            addresses.append(ipaddress.ip_address(literal))
        except ValueError:
            continue
    if not addresses:
        raise ValueError(f"O host {host} não foi encontrado (DNS não resolveu).")
    return addresses


def validate_rpa_url(url: str, allow_private: bool = False) -> str:
    """The normalized URL, or ValueError (in Portuguese) when it is unsafe or malformed."""
    parts = _split(url)
    scheme, host = parts.scheme.lower(), parts.hostname.lower().rstrip(".")
    if not host:
        raise ValueError("A URL precisa de um host (ex.: https://robo.exemplo.com.br).")
    port = parts.port
    addresses = _resolve(host, port or DEFAULT_PORTS[scheme])
    if not allow_private:
        blocked = [a for a in addresses if _is_forbidden(a)]
        if blocked:
            raise ValueError(
                f"O host {host} aponta para um endereço interno ou reservado ({blocked[0]}); "
                "por segurança, só endereços públicos são aceitos."
            )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))
