"""``tools/devcloud tempest``: stackvault's tempest plugin against devcloud.

Two stages, like ``up``: with the system python (stdlib only) it installs
tempest from PyPI into its own virtualenv in the cache directory (named by
a hash of the pins, so it is reused until they change) and the plugin
(``stackvault_tempest_plugin/``, editable, reinstalled only when the
checkout or its pyproject.toml changes); then it re-executes itself with
that virtualenv's python, which has openstacksdk and PyYAML, to find or
create the image and flavor tempest.conf names, write tempest.conf, make
the tempest workspace and run the plugin's tests. It exits with tempest's
status.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import time

from . import install
from . import paths

PLUGIN_DIR = paths.CHECKOUT / "stackvault_tempest_plugin"
PLUGIN_MARKER = ".stackvault-plugin"
IMAGE_NAME = "stackvault-tempest-image"
FLAVOR_NAME = "m1.nano"


def _plugin_stamp():
    h = hashlib.sha256((PLUGIN_DIR / "pyproject.toml").read_bytes())
    return "%s %s\n" % (PLUGIN_DIR, h.hexdigest()[:12])


def install_all(layout):
    """Install tempest and the plugin where missing; return seconds spent
    (0 when both were already there)."""
    t0 = time.monotonic()
    layout.logs.mkdir(parents=True, exist_ok=True)
    log = layout.log("tempest-install")
    venv = paths.tempest_venv()
    did = install._venv(venv, paths.TEMPEST_PINS, log, "tempest")
    marker = venv / PLUGIN_MARKER
    stamp = _plugin_stamp()
    if not marker.exists() or marker.read_text() != stamp:
        print("devcloud: installing the tempest plugin from %s" % PLUGIN_DIR,
              flush=True)
        argv = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                "--no-deps", "--no-build-isolation", "-e", str(PLUGIN_DIR)]
        with open(log, "ab") as out:
            rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                timeout=600).returncode
        if rc != 0:
            raise RuntimeError("installing the tempest plugin failed (exit "
                               "%d), see %s" % (rc, log))
        marker.write_text(stamp)
        did = True
    return time.monotonic() - t0 if did else 0.0


def default_cli():
    """The stackvault command the tests drive: the checkout's .venv one
    (``make install``), else the one on PATH."""
    local = paths.CHECKOUT / ".venv" / "bin" / "stackvault"
    if local.exists():
        return str(local)
    return shutil.which("stackvault")


# -- second stage: in the tempest virtualenv ----------------------------------
def _admin_auth(layout):
    import yaml

    with open(layout.clouds_yaml) as f:
        clouds = yaml.safe_load(f)["clouds"]
    return clouds["devcloud-admin"]["auth"], clouds["devcloud-admin"][
        "region_name"]


def _refs():
    """The image and flavor tempest.conf names, and the public network:
    found, or the image created (public, 1 MiB of zeros: the fake
    hypervisor boots anything)."""
    from .identity import admin_connection

    conn = admin_connection()
    try:
        image = conn.image.find_image(IMAGE_NAME)
        if image is None:
            image = conn.image.create_image(
                name=IMAGE_NAME, disk_format="raw", container_format="bare",
                visibility="public", data=b"\0" * (1024 * 1024))
        flavor = conn.compute.find_flavor(FLAVOR_NAME, ignore_missing=False)
        public = conn.network.find_network("public", ignore_missing=False)
        return image.id, flavor.id, public.id
    finally:
        conn.close()


def tempest_conf(auth, region, image_id, flavor_id, public_id, cli,
                 log_dir):
    """tempest.conf for devcloud, as text."""
    sections = [
        ("DEFAULT", [("log_dir", log_dir), ("log_file", "tempest.log")]),
        ("auth", [
            ("use_dynamic_credentials", "True"),
            # devcloud's routers exist in the database only; the tests
            # make the networks they need.
            ("create_isolated_networks", "False"),
            ("admin_username", auth["username"]),
            ("admin_password", auth["password"]),
            ("admin_project_name", auth["project_name"]),
            ("admin_domain_name", auth["user_domain_name"]),
        ]),
        ("identity", [
            ("uri_v3", auth["auth_url"]),
            ("auth_version", "v3"),
            ("region", region),
            ("v3_endpoint_type", "public"),
        ]),
        ("compute", [("image_ref", image_id), ("flavor_ref", flavor_id),
                     ("build_timeout", "300")]),
        ("network", [("public_network_id", public_id)]),
        ("validation", [("run_validation", "False")]),
        ("service_available", [
            ("nova", "True"), ("cinder", "True"), ("neutron", "True"),
            ("glance", "True"), ("swift", "True"), ("horizon", "False"),
            ("stackvault", "True"),
        ]),
        ("stackvault", [("cli", cli), ("heat_datasource", "True"),
                        ("build_timeout", "300"), ("cli_timeout", "600")]),
    ]
    lines = ["# written by tools/devcloud tempest for this devcloud"]
    for name, options in sections:
        lines.append("")
        lines.append("[%s]" % name)
        lines.extend("%s = %s" % option for option in options)
    return "\n".join(lines) + "\n"


def run(layout, workspace, cli, regex, concurrency):
    """Write the workspace and tempest.conf, run tempest; its exit code."""
    venv_bin = os.path.dirname(sys.executable)
    tempest = os.path.join(venv_bin, "tempest")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    stestr_conf = workspace / ".stestr.conf"
    if stestr_conf.exists() and sys.prefix not in stestr_conf.read_text():
        # made by another tempest virtualenv (pins changed): remake it
        shutil.rmtree(workspace)
    if not stestr_conf.exists():
        workspace.parent.mkdir(parents=True, exist_ok=True)
        # the workspace registry stays inside the workspace, not in ~/.tempest
        rc = subprocess.run(
            [tempest, "init", "--workspace-path",
             str(workspace / ".workspace.yaml"), str(workspace)],
            env=env, stdin=subprocess.DEVNULL).returncode
        if rc != 0:
            return rc
    auth, region = _admin_auth(layout)
    image_id, flavor_id, public_id = _refs()
    conf = workspace / "etc" / "tempest.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    logs = workspace / "logs"
    conf.write_text(tempest_conf(auth, region, image_id, flavor_id,
                                 public_id, cli, str(logs)))
    print("devcloud: tempest workspace %s (tempest.conf: %s, log: %s)"
          % (workspace, conf, logs / "tempest.log"), flush=True)
    argv = [tempest, "run", "--regex", regex,
            "--concurrency", str(concurrency)]
    return subprocess.run(argv, cwd=str(workspace), env=env,
                          stdin=subprocess.DEVNULL).returncode
