"""Official documents (Decree 30/2020): drafting, registers, processing, dispatch."""

from engine.documents import dispatch as _dispatch  # noqa: F401  (registers the service task)
from engine.documents import flow as _flow  # noqa: F401  (attaches the runtime hook)
