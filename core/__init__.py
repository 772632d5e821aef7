"""What every app shares: the error type, the API error shape, tenancy helpers, redirects, display formats.

The bottom layer (docs/ARCHITECTURE.md): it imports no app of the project.
"""
