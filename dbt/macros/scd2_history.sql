{#-
  SCD2 history of one captured table, built from its CDC change log (the same
  rules as dim_astronauts_scd2, for any key and columns):

  - one row per version of a key, valid from the commit time of the change that
    produced it until the commit time of the key's next change (null while current);
  - a delete closes the open row and opens none; an insert after a delete (a
    return) opens a new row;
  - changes inside one transaction are separate versions (the earlier ones get
    a zero-length window);
  - the Kafka consumer delivers at least once: one event per (key, lsn) is kept
    (its first delivery), so replays and duplicates change nothing;
  - a snapshot read (op 'r', from `astros tables add`'s incremental snapshot)
    that repeats the key's open version is that version read again, not a
    change: it is dropped. A key's first snapshot read opens its first version.

  Order: a key's events in the order of their first delivery in the topic
  (one partition: commit order, and LSN order inside a transaction), not by
  LSN, because Debezium gives incremental snapshot reads no LSN (lsn = 0 here)
  and a read must sit between the changes before and after it.

  Arguments: changelog (the ClickHouse change log table), key (key columns),
  columns (the other columns, as the change log names them).
-#}
{% macro astros_scd2_history(changelog, key, columns) -%}
{%- set keys = key | join(', ') -%}
{%- set per_key = 'partition by ' ~ keys ~ ' order by kafka_partition, kafka_offset' -%}
with

changes as (

    select
        {{ keys }},
        {%- for c in columns %}
        {{ c }},
        {%- endfor %}
        lsn,
        tx_id,
        toString(op) as change_op,
        toBool(is_deleted) as is_delete,
        commit_ts,
        kafka_partition,
        kafka_offset,
        cityHash64(toString(tuple({{ columns | join(', ') if columns else "''" }}))) as row_hash
    from {{ changelog }}
    -- the consumer delivers at least once: keep the first delivery of each (key, lsn);
    -- snapshot reads all have lsn 0, each read is its own event
    order by {{ keys }}, lsn, ingested_at, kafka_partition, kafka_offset
    limit 1 by {{ keys }}, lsn, if(op = 'r', kafka_offset, 0)

),

compared as (

    select
        *,
        lagInFrame(toNullable(is_delete)) over rows_before as previous_is_delete,
        lagInFrame(toNullable(row_hash)) over rows_before as previous_row_hash
    from changes
    window rows_before as ({{ per_key }} rows between unbounded preceding and current row)

),

changed as (

    -- a snapshot read of the version already open is not a new version
    select *
    from compared
    where not (change_op = 'r' and coalesce(previous_is_delete, true) = false and coalesce(previous_row_hash = row_hash, false))

),

sequenced as (

    select
        *,
        leadInFrame(toNullable(lsn)) over all_rows as next_lsn,
        leadInFrame(toNullable(commit_ts)) over all_rows as next_commit_ts,
        leadInFrame(toNullable(change_op)) over all_rows as next_change_op,
        sum(toUInt32(not is_delete)) over rows_before as version_number
    from changed
    window
        all_rows as ({{ per_key }} rows between unbounded preceding and unbounded following),
        rows_before as ({{ per_key }} rows between unbounded preceding and current row)

)

select
    {{ astros_surrogate_key(key + ['lsn', 'kafka_offset']) }} as version_key,
    {{ keys }},
    toUInt32(version_number) as version_number,
    {%- for c in columns %}
    {{ c }},
    {%- endfor %}
    commit_ts as valid_from,
    next_commit_ts as valid_to,
    toBool(next_lsn is null) as is_current,
    lsn as valid_from_lsn,
    next_lsn as valid_to_lsn,
    change_op,
    next_change_op as closed_by_op,
    tx_id
from sequenced
where not is_delete
{%- endmacro %}
