#!/bin/bash
# devstack/plugin.sh: stackvault's devstack plugin (see doc/devstack.rst).
#
#   stack install      setup_develop stackvault; Redis for the conductor
#   stack post-config  write $STACKVAULT_CONF (bank, timeouts, engine; for
#                      the conductor [jobboard] and [persistence]; for the
#                      API [api], [keystone_authtoken], its service user
#                      and its data-protection endpoint in the catalog;
#                      with both, [trustee] for the trusts the API makes)
#   stack extra        start stackvault-conductor and stackvault-api
#   stack test-config  configure the tempest plugin in $TEMPEST_CONFIG
#   unstack            stop stackvault-conductor and stackvault-api
#   clean              delete the bank and the configuration
#
# Heat is never enabled here: stackvault protects and restores without it.

_XTRACE_STACKVAULT=$(set +o | grep xtrace)
set -o xtrace

function install_stackvault {
    setup_develop "$STACKVAULT_DIR"
    if is_service_enabled stackvault-conductor; then
        # the conductor's jobboard (stackvault's default backend)
        install_package redis-server
        restart_service redis-server
    fi
}

# The conductor takes jobs from the jobboard and keeps operations in the
# persistence database: without both it refuses to start (exit 2).
function configure_stackvault_conductor {
    iniset "$STACKVAULT_CONF" jobboard backend redis
    iniset "$STACKVAULT_CONF" jobboard address "$STACKVAULT_JOBBOARD_ADDRESS"
    recreate_database stackvault
    iniset "$STACKVAULT_CONF" persistence connection \
        "$(database_connection_url stackvault)"
}

# The protection API: its service user (validates tokens), the
# data-protection service and its endpoint, [keystone_authtoken], [api].
function configure_stackvault_api {
    create_service_user stackvault
    get_or_create_service stackvault data-protection \
        "stackvault data protection"
    get_or_create_endpoint data-protection "$REGION_NAME" \
        "$STACKVAULT_API_URL"
    configure_keystone_authtoken_middleware "$STACKVAULT_CONF" stackvault
    iniset "$STACKVAULT_CONF" api host "$STACKVAULT_API_LISTEN"
    iniset "$STACKVAULT_CONF" api port "$STACKVAULT_API_PORT"
    iniset "$STACKVAULT_CONF" api region_name "$REGION_NAME"
    if ! is_service_enabled stackvault-conductor; then
        recreate_database stackvault
        iniset "$STACKVAULT_CONF" persistence connection \
            "$(database_connection_url stackvault)"
    else
        configure_stackvault_trustee
    fi
}

# With a conductor the API posts its operations to the jobboard, each
# with a Keystone trust from the caller to this user, and the conductor
# acts with it: both read [trustee] (the API refuses to start without
# it). The service user, unscoped: a trust scopes its tokens.
function configure_stackvault_trustee {
    iniset "$STACKVAULT_CONF" trustee auth_type password
    iniset "$STACKVAULT_CONF" trustee auth_url "$STACKVAULT_TRUSTEE_AUTH_URL"
    iniset "$STACKVAULT_CONF" trustee username stackvault
    iniset "$STACKVAULT_CONF" trustee password "$SERVICE_PASSWORD"
    iniset "$STACKVAULT_CONF" trustee user_domain_name \
        "${SERVICE_DOMAIN_NAME:-Default}"
}

function configure_stackvault {
    sudo install -d -o "$STACK_USER" "$STACKVAULT_CONF_DIR"
    mkdir -p "$STACKVAULT_BANK_PATH"
    iniset "$STACKVAULT_CONF" bank backend filesystem
    iniset "$STACKVAULT_CONF" filesystem_bank path "$STACKVAULT_BANK_PATH"
    iniset "$STACKVAULT_CONF" timeouts status_wait "$STACKVAULT_STATUS_WAIT"
    iniset "$STACKVAULT_CONF" timeouts per_gib "$STACKVAULT_PER_GIB"
    iniset "$STACKVAULT_CONF" engine max_workers "$STACKVAULT_MAX_WORKERS"
    if is_service_enabled stackvault-conductor; then
        configure_stackvault_conductor
    fi
    if is_service_enabled stackvault-api; then
        configure_stackvault_api
    fi
}

# A service whose console script an older stackvault does not install
# is not started (the command line needs no service), and this says so
# instead of failing.
function stackvault_command {
    local exe
    exe="$(get_python_exec_prefix)/$1"
    if [[ -x "$exe" ]]; then
        echo "$exe"
    fi
}

function start_stackvault_service {
    local service=$1 exe
    if ! is_service_enabled "$service"; then
        return 0
    fi
    exe=$(stackvault_command "$service")
    if [[ -z "$exe" ]]; then
        echo "stackvault: no $service command is installed;" \
            "not starting it (the stackvault CLI needs none)"
        return 0
    fi
    run_process "$service" "$exe --config-file $STACKVAULT_CONF"
}

function start_stackvault {
    start_stackvault_service stackvault-conductor
    start_stackvault_service stackvault-api
}

function stop_stackvault {
    local service
    for service in stackvault-conductor stackvault-api; do
        if is_service_enabled "$service"; then
            stop_process "$service"
        fi
    done
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
