"""Code generated from the project's ASN.1 module; installed as ``cosem_reader.generated``.

``cosem_pdu`` is written by ``make generate`` (``codegen/generate.py``) from
``asn1/COSEMpdu_GB83.asn``; edit the module or the generator, never the output.
"""
