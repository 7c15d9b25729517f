"""Tempest tests for stackvault (entry point ``tempest.test_plugins``)."""
