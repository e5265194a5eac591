"""A-XDR: the APDUs decoded by walking descriptors generated from the DLMS ASN.1 module."""
