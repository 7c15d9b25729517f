"""The plugin's tempest.conf options.

``[service_available] stackvault`` switches every test of the plugin on;
``[stackvault]`` says how to reach stackvault's command line and how long
to wait. Heat is not something stackvault needs: the Heat datasource tests
run only when ``[stackvault] heat_datasource`` is true.
"""

from oslo_config import cfg

service_option = cfg.BoolOpt(
    "stackvault", default=False,
    help="Whether stackvault is installed and its tests should run.")

stackvault_group = cfg.OptGroup(
    name="stackvault", title="stackvault tempest plugin options")

StackvaultGroup = [
    cfg.StrOpt("cli", default="stackvault",
               help="The stackvault command: a path, or a name on PATH."),
    cfg.StrOpt("config_file", default="",
               help="stackvault.conf given to every command. Empty: each "
                    "test class writes one with a filesystem bank in a "
                    "temporary directory, deleted at the end."),
    cfg.StrOpt("cloud", default="",
               help="A cloud of clouds.yaml (OS_CLIENT_CONFIG_FILE) that "
                    "the tests and stackvault use instead of tempest's "
                    "primary credentials. Empty: tempest's primary "
                    "credentials (dynamic ones get a project of their own)."),
    cfg.IntOpt("cli_timeout", default=600, min=1,
               help="Seconds one stackvault command may take."),
    cfg.IntOpt("build_timeout", default=300, min=1,
               help="Seconds to wait for a stack, server, volume or port "
                    "to reach a status, or to be gone."),
    cfg.BoolOpt("heat_datasource", default=False,
                help="Run the Heat datasource tests (the cloud must run "
                     "Heat; stackvault itself never needs it)."),
]
