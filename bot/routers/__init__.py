"""One router per concern; each module's `router()` builds a fresh one (a router can
belong to one dispatcher only, and tests build many)."""
