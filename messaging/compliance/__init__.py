"""When a person may be texted: the jurisdictions table (``jurisdictions``) and the engine (``engine``)."""
