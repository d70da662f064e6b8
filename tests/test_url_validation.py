"""The SSRF guard and IPv6 addresses that carry an IPv4 one (6to4, Teredo, mapped, compatible, NAT64).

Cases are looped, not parametrized: each test item pays a database cleanup. Every host is a literal
address, so nothing is resolved over the network.
"""
import ipaddress

import pytest

from apps.operadoras.url_validation import _is_forbidden, validate_rpa_url

INTERNAL = "endereço interno ou reservado"

# (address, why it is refused): each embeds 127.0.0.1, a private, link-local or otherwise non-public IPv4
REFUSED = [
    ("2002:7f00:1::", "6to4 of 127.0.0.1"),
    ("2002:7f00:1::1", "6to4 of 127.0.0.1, another interface id"),
    ("2002:a00:1::1", "6to4 of 10.0.0.1"),
    ("2002:a9fe:a9fe::", "6to4 of 169.254.169.254 (cloud metadata)"),
    ("2002:c0a8:10a::", "6to4 of 192.168.1.10"),
    ("2002::", "6to4 of 0.0.0.0"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo whose client is 127.0.0.1"),
    ("2001:0:7f00:1:0:0:f5ff:fffe", "Teredo through server 127.0.0.1 to client 10.0.0.1"),
    ("::ffff:127.0.0.1", "IPv4-mapped 127.0.0.1"),
    ("::ffff:10.0.0.8", "IPv4-mapped 10.0.0.8"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata address"),
    ("::127.0.0.1", "IPv4-compatible 127.0.0.1"),
    ("::10.0.0.8", "IPv4-compatible 10.0.0.8"),
    ("::0.0.0.2", "IPv4-compatible 0.0.0.2"),
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
    ("64:ff9b::a00:8", "NAT64 of 10.0.0.8"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254"),
    ("64:ff9b::6440:1", "NAT64 of 100.64.0.1 (carrier-grade NAT)"),
    ("64:ff9b:1::808:808", "local-use NAT64 prefix (RFC 8215)"),
    ("::1", "loopback"),
    ("::", "unspecified"),
]
# Public IPv4 behind a translation that reaches it (a robot behind DNS64 keeps working), and plain IPv6.
ALLOWED = [
    ("2002:808:808::1", "6to4 of 8.8.8.8"),
    ("::ffff:200.160.2.3", "IPv4-mapped public address"),
    ("64:ff9b::c8a0:203", "NAT64 of 200.160.2.3"),
    ("2606:4700:4700::1111", "public IPv6"),
]


def test_ipv6_addresses_embedding_a_non_public_ipv4_are_refused():
    for literal, why in REFUSED:
        assert _is_forbidden(ipaddress.ip_address(literal)), why
        with pytest.raises(ValueError, match=INTERNAL):
            validate_rpa_url(f"http://[{literal}]/", allow_private=False)


def test_ipv6_addresses_reaching_a_public_address_are_allowed():
    for literal, why in ALLOWED:
        assert not _is_forbidden(ipaddress.ip_address(literal)), why
        assert validate_rpa_url(f"https://[{literal}]:8443/rpa", allow_private=False) == \
            f"https://[{literal}]:8443/rpa", why


def test_teredo_is_refused_even_with_public_ends():
    """Teredo (2001::/32) sits in the IETF protocol block the standard library calls private: refused,
    and its embedded server and client are judged too should that ever change."""
    teredo = ipaddress.ip_address("2001:0:808:808:0:0:f7f7:f7f7")  # server and client 8.8.8.8
    assert teredo.teredo == (ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("8.8.8.8"))
    assert _is_forbidden(teredo)


def test_allow_private_lets_embedded_addresses_through():
    for literal in ("2002:7f00:1::", "::ffff:127.0.0.1", "64:ff9b::7f00:1"):
        assert validate_rpa_url(f"http://[{literal}]/", allow_private=True) == f"http://[{literal}]/"
