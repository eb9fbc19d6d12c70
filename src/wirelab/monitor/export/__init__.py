"""Flow export: the Zeek-style records of :mod:`wirelab.monitor.flows` sent elsewhere.

- :mod:`.records` turns one bidirectional record into the unidirectional records that
  NetFlow and IPFIX carry (:class:`~.records.UniFlow`).
- :mod:`.netflow5` and :mod:`.ipfix` are sans-IO encoders (and small decoders, used by the
  tests and handy for teaching) of Cisco's NetFlow v5 and IETF IPFIX (RFC 7011).
- :mod:`.sender` is the UDP loop around them, with the collector's address checked first.
- :mod:`.history` writes the bidirectional records as Parquet files partitioned by hour, and
  :mod:`.query` reads them back with DuckDB.
"""
