"""gunicorn entry point for every OpenStack API service.

``gunicorn 'devcloud_impl.wsgi:app("nova")'``: the service's own WSGI module
reads its config location from an environment variable (set by devcloud for
each process) or from ``sys.argv``; gunicorn's own arguments must not reach
oslo.config, so ``sys.argv`` is replaced by ``DEVCLOUD_WSGI_ARGV``.
"""

import importlib
import os
import sys

MODULES = {
    "keystone": "keystone.wsgi.api",
    "glance": "glance.wsgi.api",
    "placement": "placement.wsgi.api",
    "neutron": "neutron.wsgi.api",
    "nova": "nova.wsgi.osapi_compute",
    "cinder": "cinder.wsgi.api",
    "heat": "heat.wsgi.api",
}


def app(name):
    sys.argv = [name + "-api"] + os.environ.get(
        "DEVCLOUD_WSGI_ARGV", ""
    ).split()
    return importlib.import_module(MODULES[name]).application
