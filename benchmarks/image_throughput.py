"""Image protect/restore throughput against raw openstacksdk, in one run.

    eval "$(tools/devcloud env)"
    python benchmarks/image_throughput.py --size-mb 1024

Creates one image of random bytes, then measures, in this order:

raw download   ``conn.image.download_image(image, stream=True,
               output=file)``: the SDK's own streaming download into a local
               file (it checks Glance's hash on the way, as protect does;
               without ``stream=True`` the SDK reads the whole image into
               memory first);
raw upload     ``conn.image.create_image(filename=file)`` of those bytes into
               a new image (the SDK's own upload of a local file);
protect        ``ProtectionService.protect`` of the image into the bank
               (per bank: filesystem in a temporary directory, Swift in a
               temporary container);
restore        ``ProtectionService.restore`` of that checkpoint (a new image,
               data streamed back from the bank, hash checked, ``active``);
raw swift      with the Swift bank, also one streamed ``create_object`` of
               the downloaded bytes into a Swift container and one
               ``stream_object`` of it (no client checksums): what Swift
               alone costs on this cloud.

and prints for every bank the two ratios ``raw download time / protect
time`` and ``raw upload time / restore time`` (1.0: as fast as raw) and the
peak RSS of each phase, with the CPU seconds of this process (``cpu``) and
of this machine's Glance and Swift server processes (``servers``: on a
small all-in-one cloud such as devcloud they share the CPUs with the
client, which bounds a copy between them); for the Swift bank also the
ratios to the slower of the Glance and the Swift anchor (the floor of a
copy between the two).
Peak RSS is measured per phase: the kernel's high-water mark (VmHWM) is
reset before each phase through
``/proc/self/clear_refs``; where that is not possible the figure is the
process's peak so far (``getrusage``) and is marked with ``*``.

Everything the run creates (images, checkpoints, the Swift container, the
temporary files) is deleted at the end, also when a phase fails.
"""

import argparse
import contextlib
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid

import openstack
from oslo_config import cfg

from protection import config
from protection.bank.filesystem import FileSystemBank
from protection.bank.swift import SwiftBank
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService

MiB = 1024 * 1024
IMAGE_TYPE = "OS::Glance::Image"


# -- measuring ----------------------------------------------------------------
def _reset_peak():
    """Reset the kernel's peak-RSS mark; False when that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mib():
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# The devcloud services a copy between Glance and Swift runs through (their
# process titles or command lines), whose CPU the ``servers`` column sums.
SERVER_MARKS = ("[glance]", "swift-proxy-server", "swift-object-server")


def _server_cpu_seconds():
    """CPU seconds used so far by this machine's Glance and Swift server
    processes (0 where there are none: a remote cloud)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(
                    errors="replace")
            if not any(mark in cmdline for mark in SERVER_MARKS):
                continue
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue            # gone meanwhile, or not readable
    return total


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)   # all threads
    return usage.ru_utime + usage.ru_stime


class Phase:
    def __init__(self, name, size):
        self.name = name
        self.size = size
        self.seconds = None
        self.cpu = None
        self.server_cpu = None
        self.peak_mib = None
        self.exact_peak = False

    @property
    def mb_per_s(self):
        return self.size / MiB / self.seconds

    def row(self):
        star = "" if self.exact_peak else "*"
        return (f"  {self.name:<22} {self.seconds:7.2f} s "
                f"{self.mb_per_s:7.1f} MiB/s  cpu {self.cpu:6.2f} s  "
                f"servers {self.server_cpu:6.2f} s  "
                f"peak RSS {self.peak_mib:6.1f} MiB{star}")


@contextlib.contextmanager
def measure(name, size, results):
    phase = Phase(name, size)
    phase.exact_peak = _reset_peak()
    cpu = _cpu_seconds()
    server_cpu = _server_cpu_seconds()
    start = time.perf_counter()
    yield phase
    phase.seconds = time.perf_counter() - start
    phase.cpu = _cpu_seconds() - cpu
    phase.server_cpu = _server_cpu_seconds() - server_cpu
    phase.peak_mib = _peak_rss_mib()
    results.setdefault(name, []).append(phase)
    print(phase.row(), flush=True)


# -- the image ----------------------------------------------------------------
def random_stream(size, chunk=4 * MiB):
    """``size`` bytes that no storage layer can compress or deduplicate,
    in constant memory (one random block, each chunk stamped with its
    index)."""
    block = bytearray(os.urandom(chunk))
    sent, index = 0, 0
    while sent < size:
        n = min(chunk, size - sent)
        block[:8] = index.to_bytes(8, "big")
        yield bytes(block[:n])
        sent += n
        index += 1


def create_source_image(conn, size, name):
    image = conn.image.create_image(
        name, disk_format="raw", container_format="bare",
        allow_duplicates=True, disable_vendor_agent=False)
    response = image.upload(conn.image, data=random_stream(size), size=size)
    openstack.exceptions.raise_from_response(response)
    return conn.image.wait_for_status(conn.image.get_image(image.id),
                                      "active", failures=["killed"],
                                      wait=600)


# -- services -----------------------------------------------------------------
def make_service(bank, object_size_mb, concurrency=None):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    registry = PluginRegistry.load(conf)
    if object_size_mb:
        conf.set_override("object_size_mib", object_size_mb,
                          group="image_data")
    if concurrency:
        conf.set_override("concurrency", concurrency, group="image_data")
    return ProtectionService(conf, registry, bank)


def delete_swift_container(conn, container):
    for name in (container, container + "_segments"):
        try:
            for obj in list(conn.object_store.objects(name)):
                conn.object_store.delete_object(obj.name, container=name,
                                                ignore_missing=True)
            conn.object_store.delete_container(name, ignore_missing=True)
        except openstack.exceptions.NotFoundException:
            pass


def run_bank(label, service, conn, image_id, size, results):
    with measure(f"{label}: protect", size, results):
        checkpoint_id = service.protect(
            conn, f"bench-{label}", [(IMAGE_TYPE, image_id)]).checkpoint_id
    try:
        with measure(f"{label}: restore", size, results):
            result = service.restore(checkpoint_id, conn, parameters={
                IMAGE_TYPE: {"restore_name": f"bench-restored-{label}"}})
        conn.image.delete_image(next(iter(result.restored.values())),
                                ignore_missing=True)
    finally:
        service.delete(checkpoint_id, conn)


def raw_swift(conn, raw_file, size, container, results):
    """The Swift anchors: one streamed PUT of the bytes, one streamed GET
    (no checksums computed on the client)."""
    conn.object_store.create_container(container)
    with measure("raw swift put", size, results):
        with open(raw_file, "rb") as handle:
            conn.object_store.create_object(container, "raw", data=handle,
                                            generate_checksums=False)
    with measure("raw swift get", size, results):
        with open(os.devnull, "wb") as sink:
            for chunk in conn.object_store.stream_object(
                    "raw", container=container, chunk_size=4 * MiB):
                sink.write(chunk)
    conn.object_store.delete_object("raw", container=container,
                                    ignore_missing=True)


def raw_round(conn, source, size, workdir, tag, results, swift_container):
    raw_file = os.path.join(workdir, "raw.img")
    try:
        with measure("raw sdk download", size, results):
            conn.image.download_image(source, stream=True, output=raw_file)
        with measure("raw sdk upload", size, results):
            copy = conn.image.create_image(
                f"bench-raw-upload-{tag}", filename=raw_file,
                disk_format="raw", container_format="bare",
                allow_duplicates=True, disable_vendor_agent=False)
        conn.image.delete_image(copy.id, ignore_missing=True)
        if swift_container:
            raw_swift(conn, raw_file, size, swift_container, results)
    finally:
        if os.path.exists(raw_file):
            os.unlink(raw_file)


def best(phases):
    return min(phases, key=lambda p: p.seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024,
                        help="image size in MiB (default 1024)")
    parser.add_argument("--banks", default="filesystem,swift",
                        help="comma-separated: filesystem, swift")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds (raw and stackvault interleaved); "
                             "ratios use each phase's best round")
    parser.add_argument("--object-size-mb", type=int, default=None,
                        help="[image_data] object_size_mib (default: the "
                             "configured value, 64)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="[image_data] concurrency (default: the "
                             "configured value, 4)")
    parser.add_argument("--os-cloud", default=os.environ.get("OS_CLOUD"))
    parser.add_argument("--workdir", default=None,
                        help="where the raw download and the filesystem bank "
                             "go (default: a temporary directory)")
    args = parser.parse_args(argv)
    banks = [b.strip() for b in args.banks.split(",") if b.strip()]
    for name in banks:
        if name not in ("filesystem", "swift"):
            parser.error(f"unknown bank {name!r}")
    size = args.size_mb * MiB
    conn = openstack.connect(cloud=args.os_cloud)
    tag = uuid.uuid4().hex[:8]
    workdir = tempfile.mkdtemp(prefix="sv-bench-", dir=args.workdir)
    container = f"stackvault-bench-{tag}"
    cleanup = [lambda: shutil.rmtree(workdir, ignore_errors=True)]
    results = {}
    print(f"image of {args.size_mb} MiB, banks: {', '.join(banks)}, "
          f"{args.repeat} round(s), [image_data] concurrency "
          f"{args.concurrency or 'as configured'}; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    try:
        source = create_source_image(conn, size, f"bench-source-{tag}")
        cleanup.append(lambda: conn.image.delete_image(
            source.id, ignore_missing=True))
        services = {}
        for bank_name in banks:
            if bank_name == "filesystem":
                bank = FileSystemBank(os.path.join(workdir, "bank"))
            else:
                bank = SwiftBank(conn, container=container)
                cleanup.append(lambda: delete_swift_container(
                    conn, container))
                cleanup.append(lambda: delete_swift_container(
                    conn, f"{container}-raw"))
            services[bank_name] = make_service(bank, args.object_size_mb,
                                               args.concurrency)
        for n in range(args.repeat):
            print(f"round {n + 1}")
            raw_round(conn, source, size, workdir, tag, results,
                      f"{container}-raw" if "swift" in banks else None)
            for bank_name in banks:
                run_bank(bank_name, services[bank_name], conn, source.id,
                         size, results)
    finally:
        for call in reversed(cleanup):
            try:
                call()
            except Exception as exc:     # clean up all we can
                print(f"cleanup: {exc}", file=sys.stderr)
    raw_down = best(results["raw sdk download"])
    raw_up = best(results["raw sdk upload"])
    print()
    print(f"image {args.size_mb} MiB, best of {args.repeat}; ratio = raw "
          f"time / stackvault time (1.0: as fast as raw); load average "
          f"now {os.getloadavg()[0]:.2f}")
    print(f"  raw download {raw_down.mb_per_s:6.1f} MiB/s, raw upload "
          f"{raw_up.mb_per_s:6.1f} MiB/s, peak RSS "
          f"{max(p.peak_mib for p in results['raw sdk download']):.0f} / "
          f"{max(p.peak_mib for p in results['raw sdk upload']):.0f} MiB")
    if "swift" in banks:
        swift_put = best(results["raw swift put"])
        swift_get = best(results["raw swift get"])
        print(f"  raw swift put {swift_put.mb_per_s:6.1f} MiB/s, raw swift "
              f"get {swift_get.mb_per_s:6.1f} MiB/s (the Swift bank's own "
              "floor: protect cannot beat the slower of raw download and "
              "raw swift put, restore the slower of raw upload and raw "
              "swift get)")
    for bank_name in banks:
        protect = best(results[f"{bank_name}: protect"])
        restore = best(results[f"{bank_name}: restore"])
        peak_p = max(p.peak_mib for p in results[f"{bank_name}: protect"])
        peak_r = max(p.peak_mib for p in results[f"{bank_name}: restore"])
        print(f"  {bank_name:<10} protect/raw download "
              f"{raw_down.seconds / protect.seconds:5.2f}   restore/raw "
              f"upload {raw_up.seconds / restore.seconds:5.2f}   peak RSS "
              f"protect {peak_p:.0f} MiB, restore {peak_r:.0f} MiB")
        if bank_name == "swift":
            floor_p = max(raw_down.seconds, swift_put.seconds)
            floor_r = max(raw_up.seconds, swift_get.seconds)
            print(f"  {'':<10} protect/floor {floor_p / protect.seconds:5.2f}"
                  f"          restore/floor {floor_r / restore.seconds:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
