"""Importing this module attaches every domain's runtime hooks and BPMN service tasks.

The runtime knows no domain; each domain package registers its listeners on import. Every
process that runs workflows (an API process, the worker) must import all of them, or a step
would silently skip, say, the status owed to another node.
"""

from engine import documents as _documents  # noqa: F401
from engine import dossiers as _dossiers  # noqa: F401
from engine import signing_service as _signing_service  # noqa: F401
from engine.exchange import bell as _bell  # noqa: F401
from engine.exchange import statuses as _statuses  # noqa: F401
