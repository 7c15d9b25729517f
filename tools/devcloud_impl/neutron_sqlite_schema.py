"""Create Neutron's head schema on sqlite (``--db sqlite`` only).

``neutron-db-manage upgrade heads`` fails on sqlite (its migrations ALTER
constraints), so devcloud creates the tables from Neutron's head models and
then runs ``neutron-db-manage stamp heads`` (services/neutron.py).
Usage: python -m devcloud_impl.neutron_sqlite_schema <sqlalchemy url>
"""

import sys

import sqlalchemy
from neutron.db.migration.models import head


def main(url):
    engine = sqlalchemy.create_engine(url)
    head.get_metadata().create_all(engine)
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
