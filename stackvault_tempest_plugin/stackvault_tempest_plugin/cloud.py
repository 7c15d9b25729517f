"""One set of connection settings for the tests and for stackvault's CLI.

The tests talk to the cloud through openstacksdk and run ``stackvault``
as a separate process; both must act as the same user in the same project.
The settings come either from tempest's credentials (the primary ones,
with tempest's identity endpoint and region) or, with ``[stackvault]
cloud``, from a cloud in clouds.yaml. The password only ever travels in
the command's environment, never on its command line or in a log.
"""

import os

import openstack
from tempest import config

CONF = config.CONF


def _interface():
    endpoint_type = CONF.identity.v3_endpoint_type or "public"
    return endpoint_type.replace("URL", "")


def settings_from_credentials(creds):
    """openstacksdk settings for tempest credentials (identity v3)."""
    settings = {
        "auth_url": CONF.identity.uri_v3,
        "username": creds.username,
        "password": creds.password,
        "project_name": creds.project_name,
        "user_domain_name": creds.user_domain_name,
        "project_domain_name": creds.project_domain_name,
        "region_name": CONF.identity.region,
        "interface": _interface(),
        "identity_api_version": "3",
    }
    if CONF.identity.disable_ssl_certificate_validation:
        settings["insecure"] = "true"
    elif CONF.identity.ca_certificates_file:
        settings["cacert"] = CONF.identity.ca_certificates_file
    return settings


def connect(settings, cloud=None):
    """An openstacksdk connection: the named cloud, else ``settings``."""
    if cloud:
        return openstack.connect(cloud=cloud)
    sdk = dict(settings)
    insecure = sdk.pop("insecure", None)
    if insecure:
        sdk["verify"] = False
    return openstack.connect(load_yaml_config=False, load_envvars=False,
                             **sdk)


def cli_environment(settings, cloud=None):
    """The environment of a stackvault command: this process's, without
    any OS_* variable but the clouds.yaml location, plus the settings as
    the OS_* variables openstacksdk reads when OS_CLOUD is unset."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") or k == "OS_CLIENT_CONFIG_FILE"}
    if cloud:
        env["OS_CLOUD"] = cloud
        return env
    for key, value in settings.items():
        env["OS_" + key.upper()] = value
    return env
