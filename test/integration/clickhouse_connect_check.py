"""Conformance check of the embedded ClickHouse HTTP server with clickhouse-connect,
the driver dbt-clickhouse uses. Run by test/integration/clickhouse-http.test.ts:

    $DBT_PYTHON test/integration/clickhouse_connect_check.py http://127.0.0.1:8123 <table suffix>

Prints one JSON object (the checks that passed, with observed values) on
stdout; exits non-zero with the failing check named on stderr.
"""

import datetime
import json
import sys
import traceback

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError


def main() -> None:
    url, suffix = sys.argv[1], sys.argv[2]
    host_port = url.split("://", 1)[1].rstrip("/")
    host, port = host_port.rsplit(":", 1)
    report: dict = {"clickhouse_connect": clickhouse_connect.__version__ if hasattr(clickhouse_connect, "__version__") else None}
    table = f"cc_check_{suffix}"

    def check(name, fn):
        try:
            value = fn()
            report[name] = value
            return value
        except Exception:
            sys.stderr.write(f"check '{name}' failed:\n{traceback.format_exc()}\n")
            print(json.dumps(report, default=str))
            sys.exit(1)

    # Default settings: compression on (lz4 inserts, Accept-Encoding lz4/zstd/gzip), Native format.
    client = check(
        "connect",
        lambda: clickhouse_connect.get_client(host=host, port=int(port), username="default", password="anything"),
    )
    report["connect"] = {"server_version": client.server_version, "server_tz": str(client.server_tz)}
    report["write_compression"] = getattr(client, "write_compression", None)

    check("command_create", lambda: str(client.command(
        f"CREATE TABLE {table} (id UInt64, name String, at DateTime64(6, 'UTC'), score Nullable(Float64)) "
        "ENGINE = MergeTree ORDER BY id"
    )))
    rows = [
        [1, "Ada", datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc), 1.5],
        [2, "Grace", datetime.datetime(2024, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc), None],
        [2**63 + 5, "Big ünïcode", datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc), -0.25],
    ]

    def insert_native():
        summary = client.insert(table, rows, column_names=["id", "name", "at", "score"])
        return {"written_rows": summary.written_rows}

    check("insert_native_lz4", insert_native)

    def insert_uncompressed():
        plain = clickhouse_connect.get_client(host=host, port=int(port), compress=False)
        plain.insert(table, [[10, "plain", datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), 2.0]],
                     column_names=["id", "name", "at", "score"])
        gz = clickhouse_connect.get_client(host=host, port=int(port), compress="gzip")
        gz.insert(table, [[11, "gzip", datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), 3.0]],
                  column_names=["id", "name", "at", "score"])
        n = gz.query(f"SELECT count() FROM {table} WHERE id IN (10, 11)").result_rows[0][0]
        plain.close()
        gz.close()
        return n

    check("insert_plain_and_gzip", insert_uncompressed)

    def query_native():
        result = client.query(f"SELECT id, name, at, score FROM {table} WHERE id < 10 OR id > 1000 ORDER BY id")
        got = [list(r) for r in result.result_rows]
        # clickhouse-connect returns naive datetimes for a UTC server: compare in UTC.
        want = [[r[0], r[1], r[2].replace(tzinfo=None), r[3]] for r in rows]
        got = [[r[0], r[1], r[2].replace(tzinfo=None), r[3]] for r in got]
        if got != want:
            raise AssertionError(f"round trip mismatch: {got!r} != {rows!r}")
        return len(got)

    check("query_native_roundtrip", query_native)

    def query_params():
        r = client.query("SELECT {n:UInt32} + 1 AS x, {s:String} AS s", parameters={"n": 41, "s": "it's"})
        return list(r.result_rows[0])

    check("query_server_params", query_params)
    check("command_scalar", lambda: client.command(f"SELECT count() FROM {table}"))

    def error_surfaces():
        try:
            client.query(f"SELECT no_such_column FROM {table}")
        except DatabaseError as e:
            text = str(e)
            if "no_such_column" not in text or "47" not in text:
                raise AssertionError(f"error text lacks the server message: {text}")
            return text.splitlines()[0][:200]
        raise AssertionError("query with an unknown column did not raise")

    check("error_surfaces", error_surfaces)

    def session_temp_table():
        s = clickhouse_connect.get_client(host=host, port=int(port), session_id=f"cc_session_{suffix}")
        s.command("CREATE TEMPORARY TABLE tmp_cc (x UInt8)")
        s.command("INSERT INTO tmp_cc VALUES (1), (2), (3)")
        n = s.command("SELECT sum(x) FROM tmp_cc")
        s.close()
        return n

    check("session_temp_table", session_temp_table)
    check("drop", lambda: str(client.command(f"DROP TABLE {table}")))
    client.close()
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
