"""The persistence database's engine: a MariaDB/MySQL server that stops
answering fails a statement after ``[persistence] timeout`` instead of
holding the process for ever (protection.db.engine)."""

import mock
import sqlalchemy as sa

from protection import config
from protection.db import engine as db_engine

URL = "mysql+pymysql://u:p@db.example.com:3306/stackvault?charset=utf8mb4"


def _connect_args(url, *args):
    with mock.patch.object(sa, "create_engine") as create, \
            mock.patch.object(sa.event, "listen"):
        db_engine.make_engine(url, *args)
    return create.call_args.kwargs.get("connect_args", {})


def test_mysql_waits_for_the_server_a_bounded_time():
    assert _connect_args(URL, 2.5) == {"connect_timeout": 2.5,
                                       "read_timeout": 2.5,
                                       "write_timeout": 2.5}
    assert _connect_args(URL)["read_timeout"] == db_engine.DEFAULT_TIMEOUT


def test_a_timeout_in_the_url_wins():
    assert _connect_args(URL + "&read_timeout=60", 2.5) == {
        "connect_timeout": 2.5, "write_timeout": 2.5}


def test_sqlite_gets_no_network_timeouts(tmp_path):
    args = _connect_args(f"sqlite:///{tmp_path / 'sv.db'}", 2.5)
    assert "read_timeout" not in args


def test_the_option_defaults_to_the_engines_default():
    conf = config.load_config([])
    assert conf.persistence.timeout == db_engine.DEFAULT_TIMEOUT


def test_the_schema_lock_is_asked_for_in_short_waits():
    """One GET_LOCK answered after 120 s would outlast the read timeout:
    it is asked again, a second at a time."""
    engine = mock.MagicMock()
    engine.dialect.name = "mysql"
    conn = engine.connect.return_value.__enter__.return_value
    conn.execute.return_value.scalar.side_effect = [0, 0, 1, 1]
    with db_engine.schema_lock(engine):
        pass
    waits = [call.args[1].get("wait") for call in conn.execute.call_args_list
             if "GET_LOCK" in str(call.args[0])]
    assert waits == [db_engine.SCHEMA_LOCK_TRY] * 3
    assert db_engine.SCHEMA_LOCK_TRY < db_engine.DEFAULT_TIMEOUT
