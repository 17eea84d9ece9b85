"""The process tree, declared once: roles (`roles.py`), their wiring per mode (`wiring.py`),
and the two ways to run them (`modes.py`): embedded, every role under one supervisor in one
process with in-memory wiring, and tree, one role per supervisord program wired over Redis.
See docs/architecture.md (the actor tree).
"""
