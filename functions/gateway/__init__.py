"""The gateway core: everything the HTTPS functions share.

Modules, from the bottom up (no module imports one above it):
errors, settings -> firebase, logs -> http, auth -> schemas -> audit -> registry -> health.
"""

__version__ = "0.1.0"
