"""The tempest plugin: where the tests are and which options they read."""

import os

from tempest import config
from tempest.test_discover import plugins

from stackvault_tempest_plugin import config as sv_config


class StackvaultTempestPlugin(plugins.TempestPlugin):
    def load_tests(self):
        base_path = os.path.split(os.path.dirname(
            os.path.abspath(__file__)))[0]
        test_dir = os.path.join(base_path, "stackvault_tempest_plugin",
                                "tests")
        return test_dir, base_path

    def register_opts(self, conf):
        conf.register_opt(sv_config.service_option,
                          group="service_available")
        config.register_opt_group(conf, sv_config.stackvault_group,
                                  sv_config.StackvaultGroup)

    def get_opt_lists(self):
        return [("service_available", [sv_config.service_option]),
                (sv_config.stackvault_group.name,
                 sv_config.StackvaultGroup)]
