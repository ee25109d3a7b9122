"""Clinic systems: DICOM results (Encapsulated PDF, structured report), sending them to a PACS
through an on-disk queue, FHIR export, and the DICOM Modality Worklist.

Nothing here opens a network connection unless a destination is configured (``pacs_host``,
``worklist_host``); building DICOM and FHIR files is local. The modules that talk to the network
(:mod:`.pacs`, :mod:`.worklist`) import pynetdicom lazily, so the rest of the core never loads it.
"""
