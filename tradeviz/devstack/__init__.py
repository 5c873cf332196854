"""Local stack for `make run` and `make test`: embedded PostgreSQL and Redis, and a process supervisor.

Used only when DATABASE_URL / REDIS_URL are not given; with them, the real servers are used.
"""
