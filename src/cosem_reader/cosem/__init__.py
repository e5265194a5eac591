"""COSEM: what the decoded values mean (OBIS codes, units, readings, meter layouts)."""
