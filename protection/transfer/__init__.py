"""Moving bytes with constant memory: streams that hash what passes
(:mod:`.streaming`) and the bounded pipeline of objects in flight
(:mod:`.pipeline`).

Pure data path: imports nothing of stackvault's.
"""
