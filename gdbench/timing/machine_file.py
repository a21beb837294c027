"""machine.json's content: its layouts read as hosts and devices, checked, and two
measurements merged into the roofs that bound every cell (the higher of each)."""

from __future__ import annotations

import math


def check_limits(limits, path) -> dict:
    """``limits`` as read from a machine.json, or a ``UsageError`` naming the first entry
    gdbench never writes. Two layouts: ``{device: measurement}`` for a local sweep and
    ``{"hosts": {host: {"hostname": name, device: measurement}}}`` for a cluster's; a
    measurement has a finite ``gbps`` > 0 and ``iqr_gbps`` ≥ 0, and whole sizes ≥ 0."""
    import math

    from gdbench.errors import UsageError

    def refuse(where: str, why: str):
        raise UsageError(f"{path}: {where} {why} (not a machine.json gdbench wrote)")

    def number(v) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    if not isinstance(limits, dict):
        refuse("the file", "is not an object")
    hosts = limits.get("hosts") if set(limits) == {"hosts"} else {"": limits}
    if not isinstance(hosts, dict):
        refuse('"hosts"', "is not an object")
    for host, devices in hosts.items():
        if not isinstance(devices, dict):
            refuse(f"host {host!r}", "is not an object")
        for dev, b in devices.items():
            where = f"{host} {dev}".strip()
            if dev == "hostname" and host:
                if not isinstance(b, str):
                    refuse(where, "is not a name")
                continue
            if not isinstance(b, dict):
                refuse(where, "is not a measurement")
            if not (number(b.get("gbps")) and b["gbps"] > 0):
                refuse(f"{where}.gbps", f"= {b.get('gbps')!r} is not a number > 0")
            if not (number(b.get("iqr_gbps")) and b["iqr_gbps"] >= 0):
                refuse(f"{where}.iqr_gbps", f"= {b.get('iqr_gbps')!r} is not a number ≥ 0")
            for key in ("array_bytes", "threads", "cache_bytes"):
                v = b.get(key, 0)
                if not (number(v) and v >= 0 and float(v).is_integer()):
                    refuse(f"{where}.{key}", f"= {v!r} is not a whole number ≥ 0")
            if not isinstance(b.get("method", ""), str):
                refuse(f"{where}.method", "is not text")
            if "cache_gbps" in b and not (number(b["cache_gbps"]) and b["cache_gbps"] > 0):
                refuse(f"{where}.cache_gbps", f"= {b['cache_gbps']!r} is not a number > 0")
            gemm = b.get("gemm", {})
            if not isinstance(gemm, dict):
                refuse(f"{where}.gemm", "is not an object")
            for dtype, g in gemm.items():
                at = f"{where}.gemm.{dtype}"
                if not isinstance(g, dict):
                    refuse(at, "is not a measurement")
                if not (number(g.get("gflops")) and g["gflops"] > 0):
                    refuse(f"{at}.gflops", f"= {g.get('gflops')!r} is not a number > 0")
                if not (number(g.get("iqr_gflops", 0)) and g.get("iqr_gflops", 0) >= 0):
                    refuse(f"{at}.iqr_gflops", f"= {g.get('iqr_gflops')!r} is not a number ≥ 0")
                if not isinstance(g.get("method", ""), str):
                    refuse(f"{at}.method", "is not text")
    return limits


def machine_hosts(limits: dict) -> dict[str, dict]:
    """A machine.json's content (checked by ``check_limits``) as ``{host: {device:
    measurement}}``, whichever layout wrote it: this version's ``{"hosts": {name: …}}``, a
    cluster's of before (keyed by address, with a ``hostname`` entry), or a local sweep's
    of before (``{device: …}``, read as host "": the host of every row)."""
    if set(limits) != {"hosts"}:
        return {"": dict(limits)} if limits else {}
    hosts = {}
    for key, devices in limits["hosts"].items():
        name = devices.get("hostname", key) if isinstance(devices, dict) else key
        hosts[str(name)] = {d: b for d, b in devices.items() if d != "hostname"}
    return hosts


def host_limits(limits: dict, host: str) -> dict:
    """The measurements of ``host`` in a machine.json's content; a file of one local
    sweep of before (host "") holds this host's."""
    hosts = machine_hosts(limits)
    return hosts.get(host) or hosts.get("", {})


def best_limits(limits: dict, again: dict) -> tuple[dict, list[str]]:
    """``limits`` (machine.json's content) with each roof of ``again`` (``{"hosts": {host:
    compute_roofs()}}``) that is higher in its place: a roof must bound every cell, and one
    measured low (a busy moment on a shared machine) would not. Also what was raised, a
    line each."""
    import copy

    out = copy.deepcopy(limits)
    raised: list[str] = []
    for host, devices in again.get("hosts", {}).items():
        mine = host_limits(out, host)
        for dev, new in devices.items():
            old = mine.get(dev)
            if not isinstance(old, dict) or not isinstance(new, dict):
                continue
            if new.get("cache_gbps", 0) > old.get("cache_gbps", math.inf):
                raised.append(f"{dev} cache {old['cache_gbps']:.1f} → {new['cache_gbps']:.1f} GB/s")
                old["cache_gbps"] = new["cache_gbps"]
            gemm = old.setdefault("gemm", {})
            for dtype, measured in new.get("gemm", {}).items():
                before = gemm.get(dtype, {}).get("gflops")
                if before is None or measured["gflops"] > before:
                    if before is not None:
                        raised.append(
                            f"{dev} {dtype} GEMM {before:.1f} → {measured['gflops']:.1f} GFLOP/s"
                        )
                    gemm[dtype] = measured
    return out, raised
