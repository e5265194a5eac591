"""Transport: joining segments and blocks into whole APDUs."""
