"""The gateway core: everything the HTTPS functions share.

Modules, roughly from the bottom up:

- ``errors``, ``settings``, ``deploy``: the error type and table; runtime params; deploy options (region, timeouts, concurrency, threads).
- ``firebase``, ``logs``, ``upstream``: the Admin app and Firestore client; structured logs; the shared httpx client.
- ``schemas``, ``audit``, ``registry``: model and provider shapes; the audit trail; the cached model registry.
- ``providers/`` (one file per provider), ``secrets``, ``providers_store``, ``retry``: talking to AI providers.
- ``auth``, ``http``: who is calling; the request pipeline every function goes through.
- ``generation``, ``sse``, ``images``, ``storage``, ``limits``, ``usage``, ``provider_admin``, ``health``: the features.
"""

__version__ = "0.2.0"
