"""What the fullstack tests, the demo and the benchmarks share.

``volume_bytes``  the bytes of a devcloud volume as a guest sees them
``teardown``      deleting what a test or the demo made, carefully
``waits``         bounded waits that do not use stackvault's own code
``fake_heat``     an in-memory Heat API (unit tests, the poll benchmark)

It lives outside ``tests/`` because the demo and the benchmarks use it
too; it is not part of the installed stackvault.
"""
