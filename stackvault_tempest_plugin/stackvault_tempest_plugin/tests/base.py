"""The base of every stackvault test: credentials, a connection, the CLI.

Each test class gets tempest's primary credentials (with dynamic
credentials, a project of its own), an openstacksdk connection and a
``stackvault`` command acting as the same user, and, unless
``[stackvault] config_file`` is set, a stackvault.conf with a filesystem
bank in a temporary directory that is deleted at the end.
"""

import os
import shutil
import tempfile

from tempest import config
from tempest import test

from stackvault_tempest_plugin import cli
from stackvault_tempest_plugin import cloud
from stackvault_tempest_plugin import teardown

CONF = config.CONF


class StackvaultTest(test.BaseTestCase):
    credentials = ["primary"]

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.service_available.stackvault:
            raise cls.skipException(
                "stackvault is not available ([service_available] "
                "stackvault = False)")

    @classmethod
    def setup_clients(cls):
        super().setup_clients()
        name = CONF.stackvault.cloud or None
        settings = {} if name else cloud.settings_from_credentials(
            cls.os_primary.credentials)
        cls.conn = cloud.connect(settings, name)
        cls.cli_env = cloud.cli_environment(settings, name)

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.addClassResourceCleanup(cls.conn.close)
        cls.timeout = CONF.stackvault.build_timeout
        cls.teardown = teardown.Teardown(cls.conn, cls.timeout)
        config_file = CONF.stackvault.config_file
        cls.bank_dir = None
        if not config_file:
            workdir = tempfile.mkdtemp(prefix="stackvault-tempest-")
            cls.addClassResourceCleanup(shutil.rmtree, workdir, True)
            cls.bank_dir = os.path.join(workdir, "bank")
            config_file = os.path.join(workdir, "stackvault.conf")
            with open(config_file, "w") as f:
                f.write("[bank]\nbackend = filesystem\n"
                        f"[filesystem_bank]\npath = {cls.bank_dir}\n")
        cls.stackvault = cli.Stackvault(
            CONF.stackvault.cli, cls.cli_env, config_file,
            CONF.stackvault.cli_timeout)
