"""The code of each route (:mod:`protection.api.routes` maps them).

A handler takes an :class:`~protection.api.app.ApiRequest` and the
route's path parameters and returns ``(status, body)`` or
``(status, body, headers)``.
"""
