"""OpenAI's API over the gateway's core, one module per endpoint family.

``errors`` (OpenAI's error shape), ``fields`` (the request conventions every
family shares: documented fields at their defaults), then ``chat``
(``/v1/chat/completions``) and ``models`` (``/v1/models``). The edge,
``openai_api.py``, routes a request to the family that serves it; nothing here
imports an edge module.
"""
