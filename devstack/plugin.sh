#!/bin/bash
# devstack/plugin.sh: stackvault's devstack plugin (see doc/devstack.rst).
#
#   stack install      setup_develop stackvault
#   stack post-config  write $STACKVAULT_CONF (bank, timeouts, engine)
#   stack extra        start stackvault-conductor, if stackvault ships one
#   stack test-config  configure the tempest plugin in $TEMPEST_CONFIG
#   unstack            stop stackvault-conductor
#   clean              delete the bank and the configuration
#
# Heat is never enabled here: stackvault protects and restores without it.

_XTRACE_STACKVAULT=$(set +o | grep xtrace)
set -o xtrace

function install_stackvault {
    setup_develop "$STACKVAULT_DIR"
}

function configure_stackvault {
    sudo install -d -o "$STACK_USER" "$STACKVAULT_CONF_DIR"
    mkdir -p "$STACKVAULT_BANK_PATH"
    iniset "$STACKVAULT_CONF" bank backend filesystem
    iniset "$STACKVAULT_CONF" filesystem_bank path "$STACKVAULT_BANK_PATH"
    iniset "$STACKVAULT_CONF" timeouts status_wait "$STACKVAULT_STATUS_WAIT"
    iniset "$STACKVAULT_CONF" timeouts per_gib "$STACKVAULT_PER_GIB"
    iniset "$STACKVAULT_CONF" engine max_workers "$STACKVAULT_MAX_WORKERS"
}

# The conductor service comes with a later stackvault release; until its
# console script is installed there is nothing to start (the command line
# needs no service), and this says so instead of failing.
function stackvault_conductor_command {
    local exe
    exe="$(get_python_exec_prefix)/stackvault-conductor"
    if [[ -x "$exe" ]]; then
        echo "$exe"
    fi
}

function start_stackvault {
    local conductor
    if ! is_service_enabled stackvault-conductor; then
        return 0
    fi
    conductor=$(stackvault_conductor_command)
    if [[ -z "$conductor" ]]; then
        echo "stackvault: no stackvault-conductor command is installed;" \
            "not starting a conductor (the stackvault CLI needs none)"
        return 0
    fi
    run_process stackvault-conductor "$conductor --config-file $STACKVAULT_CONF"
}

function stop_stackvault {
    if is_service_enabled stackvault-conductor; then
        stop_process stackvault-conductor
    fi
}

function configure_tempest_for_stackvault {
    local heat_tests=False
    if [[ "$STACKVAULT_TEST_HEAT_DATASOURCE" == "True" ]]; then
        if ! is_service_enabled h-api h-eng; then
            die $LINENO "STACKVAULT_TEST_HEAT_DATASOURCE=True needs Heat:" \
                "enable it with enable_plugin heat (stackvault never does)"
        fi
        heat_tests=True
    fi
    iniset "$TEMPEST_CONFIG" service_available stackvault True
    iniset "$TEMPEST_CONFIG" stackvault cli \
        "$(get_python_exec_prefix)/stackvault"
    iniset "$TEMPEST_CONFIG" stackvault build_timeout "${BUILD_TIMEOUT:-196}"
    iniset "$TEMPEST_CONFIG" stackvault heat_datasource "$heat_tests"
}

function cleanup_stackvault {
    rm -rf "$STACKVAULT_DATA_DIR"
    sudo rm -rf "$STACKVAULT_CONF_DIR"
}

if is_service_enabled stackvault; then
    if [[ "$1" == "stack" ]]; then
        case "$2" in
            install)
                echo_summary "Installing stackvault"
                install_stackvault
                ;;
            post-config)
                echo_summary "Configuring stackvault"
                configure_stackvault
                ;;
            extra)
                echo_summary "Starting stackvault"
                start_stackvault
                ;;
            test-config)
                if is_service_enabled tempest; then
                    echo_summary "Configuring tempest for stackvault"
                    configure_tempest_for_stackvault
                fi
                ;;
        esac
    fi
    if [[ "$1" == "unstack" ]]; then
        stop_stackvault
    fi
    if [[ "$1" == "clean" ]]; then
        cleanup_stackvault
    fi
fi

$_XTRACE_STACKVAULT
