"""A PostgreSQL query's rows as Arrow record batches through ADBC's binary COPY, read ahead in
a thread while the caller consumes them (the transport of the streamed GeoParquet export)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from etl_spatial.postgis import Postgis

SORT_WORK_MEM_ENV = "ETL_EXPORT_SORT_WORK_MEM"
"""PostgreSQL ``work_mem`` for the export's sort (beyond it the sort spills to disk)."""
DEFAULT_SORT_WORK_MEM = "256MB"
BATCH_HINT_OPTION = "adbc.postgresql.batch_size_hint_bytes"
BATCH_HINT_BYTES = 4 * 1024 * 1024


@contextmanager
def record_batches(postgis: Postgis, query: str) -> Iterator[ReadAhead]:
    """ADBC's stream of the query's rows (binary COPY, a few MB per batch), read ahead in a
    thread (:class:`ReadAhead`) while the caller writes.

    ADBC's low-level API, not its DB-API module: ``adbc_driver_manager.dbapi`` imports
    ``pyarrow.dataset``, which imports pandas (about 1 s of a small run's start-up, for
    nothing this export uses)."""
    import adbc_driver_manager as adbc
    import adbc_driver_postgresql
    import pyarrow as pa
    from psycopg import sql

    work_mem = os.environ.get(SORT_WORK_MEM_ENV, DEFAULT_SORT_WORK_MEM)
    # No JIT: the planner's cost of the sort makes it compile for seconds, for nothing.
    settings = sql.SQL(
        "SELECT set_config('work_mem', {}, false), set_config('jit', 'off', false)"
    ).format(sql.Literal(work_mem))
    with (
        adbc_driver_postgresql.connect(postgis.adbc_uri()) as database,
        adbc.AdbcConnection(database) as conn,
    ):
        with adbc.AdbcStatement(conn) as statement:
            statement.set_sql_query(settings.as_string(None))
            handle, _ = statement.execute_query()
            pa.RecordBatchReader.from_stream(handle).read_all()
        with adbc.AdbcStatement(conn) as statement:
            # Smaller batches than the driver's 16 MB default: the worker's peak is a few
            # batches.
            statement.set_options(**{BATCH_HINT_OPTION: str(BATCH_HINT_BYTES)})
            statement.set_sql_query(query)
            handle, _ = statement.execute_query()
            ahead = ReadAhead(pa.RecordBatchReader.from_stream(handle), statement.cancel)
            try:
                yield ahead
            finally:
                # The reading thread is done with the statement before it is closed.
                ahead.close()


class ReadAhead:
    """Iterate a ``RecordBatchReader`` while a thread reads the next batches (at most
    ``depth`` ahead, a few MB each).

    Decoding ADBC's COPY stream and writing Parquet (compression) both run without the GIL,
    so each overlaps the other instead of waiting for it (1M points: 0.8 s of reading and
    0.5 s of writing ran one after the other). An error in the thread is raised to the
    reader of the batch it stopped at; :meth:`close` stops and joins the thread (cancelling
    the query when the caller gave up before the end, so that it does not wait for a sort).
    """

    _END = object()

    def __init__(
        self, reader: pa.RecordBatchReader, cancel: Callable[[], Any], depth: int = 2
    ) -> None:
        import queue
        import threading

        self.schema = reader.schema
        self._reader = reader
        self._cancel = cancel
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="geoparquet-read", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self) -> None:
        try:
            for batch in self._reader:
                if not self._put(batch):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
            return
        self._put(self._END)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._cancel()
        self._thread.join()
