"""The core of lienthong: workflow runtime and domain services. Knows nothing of HTTP."""
