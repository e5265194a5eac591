"""Build-time code generation: the ASN.1 module in ``asn1/`` becomes ``generated/cosem_pdu.py``.

Only ``make generate`` and the tests import this package; it needs the extra
``codegen`` (asn1tools, jinja2), which the installed reader never loads.
"""
