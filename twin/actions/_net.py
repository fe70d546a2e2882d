"""Address and port sets of firewall rules: parsing and overlap tests (IPv4 and IPv6)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["ANY_WORDS", "Flow", "covers", "overlaps", "parse_net", "parse_ports"]

ANY_WORDS = frozenset({"any", "*", "0.0.0.0/0", "::/0", ""})
Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_net(text: str) -> Net | None:
    """An address or CIDR; ``None`` means any. ``ValueError`` names the text."""
    t = str(text).strip().lower()
    if t in ANY_WORDS:
        return None
    try:
        return ipaddress.ip_network(t, strict=False)
    except ValueError:
        raise ValueError(f"'{text}' is not an address, a CIDR or 'any'") from None


def parse_ports(text: str) -> frozenset[int] | None:
    """``443``, ``88,389,636`` or ``1000-1010``; ``None`` means any port."""
    t = str(text).strip().lower()
    if t in ("any", "*", ""):
        return None
    out: set[int] = set()
    for part in t.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ValueError(f"'{text}' is not a port list like 443, 80,443 or 1000-1010") from None
        if not (0 < a <= b <= 65535) or b - a > 4096:
            raise ValueError(f"'{text}' holds a port range outside 1-65535 (or wider than 4096)")
        out.update(range(a, b + 1))
    return frozenset(out)


def _net_overlaps(a: Net | None, b: Net | None) -> bool:
    if a is None or b is None:
        return True
    return a.version == b.version and a.overlaps(b)


def _net_covers(a: Net | None, b: Net | None) -> bool:
    if a is None:
        return True
    if b is None:
        return False
    return a.version == b.version and b.subnet_of(a)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Flow:
    """What a rule matches: sources, destinations and ports (``None`` = any)."""

    source: Net | None
    destination: Net | None
    ports: frozenset[int] | None

    @classmethod
    def of(cls, attrs: dict[str, object]) -> Flow:
        """The flow of a rule's attributes (unreadable values count as any: fail wide)."""

        def net(v: object) -> Net | None:
            try:
                return parse_net(str(v if v is not None else "any"))
            except ValueError:
                return None

        try:
            ports = parse_ports(str(attrs.get("port", "any")))
        except ValueError:
            ports = None
        return cls(net(attrs.get("source")), net(attrs.get("destination")), ports)

    def reaches(self, ip: str, port: int | None) -> bool:
        """Whether traffic to ``ip`` (on ``port``; ``None`` = any port) matches the flow."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if self.destination is not None and (
            addr.version != self.destination.version or addr not in self.destination
        ):
            return False
        return self.ports is None or port is None or port in self.ports


def overlaps(a: Flow, b: Flow) -> bool:
    """Whether some traffic matches both flows."""
    ports = a.ports is None or b.ports is None or bool(a.ports & b.ports)
    return (
        ports and _net_overlaps(a.source, b.source) and _net_overlaps(a.destination, b.destination)
    )


def covers(a: Flow, b: Flow) -> bool:
    """Whether every packet ``b`` matches also matches ``a``."""
    ports = a.ports is None or (b.ports is not None and b.ports <= a.ports)
    return ports and _net_covers(a.source, b.source) and _net_covers(a.destination, b.destination)
