"""Fake upstream servers: real HTTP on 127.0.0.1, the only test doubles."""
