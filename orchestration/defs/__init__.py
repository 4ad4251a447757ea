"""One package per domain, each exporting ``defs(config) -> dg.Definitions``."""
