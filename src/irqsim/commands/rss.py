"""``irqsim rss``: the Toeplitz hash of one flow and the RSS queue it lands on."""

from __future__ import annotations

import json

import click

from irqsim.net.rss import DEFAULT_KEY, Rss, hash_input, parse_key, toeplitz


@click.command("rss")
@click.option("--key", "key_hex", default=DEFAULT_KEY.hex(), show_default="Microsoft's sample key",
              help="The 40-byte RSS key as hex (':' separators allowed, as ethtool -x prints).")
@click.option("--src", required=True, help="Source IP address (IPv4 or IPv6).")
@click.option("--dst", required=True, help="Destination IP address (same family).")
@click.option("--sport", type=click.IntRange(0, 65535), default=None,
              help="Source port (with --dport: the TCP/UDP 4-tuple hash).")
@click.option("--dport", type=click.IntRange(0, 65535), default=None,
              help="Destination port.")
@click.option("--queues", type=click.IntRange(1, 128), default=8, show_default=True,
              help="RX queues; the default indirection table (entry i = i mod queues).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def command(key_hex: str, src: str, dst: str, sport: int | None, dport: int | None,
            queues: int, fmt: str) -> None:
    """Hash one flow as a NIC's RSS does (MS-RSS Toeplitz) and name its queue.

    Both ports: the 4-tuple (src IP, dst IP, src port, dst port); no ports: the 2-tuple.
    JSON: {"hash": "0x...", "queue": N, "type": ..., "index": table index, ...}."""
    try:
        key = parse_key(key_hex)
        htype, data = hash_input(src, dst, sport, dport)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    rss = Rss(queues, key=key)
    h = toeplitz(key, data)
    q = rss.queue_of(h)
    out = {"hash": f"0x{h:08x}", "queue": q, "type": htype.name,
           "index": h & (len(rss.table) - 1), "input": data.hex(), "queues": queues}
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(f"{htype.name} hash 0x{h:08x} (input {data.hex()})")
        click.echo(f"indirection index {out['index']} of {len(rss.table)} -> queue {q} "
                   f"(default table, {queues} queues)")
