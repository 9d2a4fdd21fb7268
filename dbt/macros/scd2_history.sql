{#-
  SCD2 history of one captured table, built from its CDC change log (the same
  rules as dim_astronauts_scd2, for any key and columns):

  - one row per version of a key, valid from the commit time of the change that
    produced it until the commit time of the key's next change (null while current);
  - a delete closes the open row and opens none; an insert after a delete (a
    return) opens a new row;
  - changes inside one transaction are separate versions (the earlier ones get
    a zero-length window);
  - each committed change once: the deduplicated change log (`<t>_changes`,
    read FINAL) collapses the at-least-once consumer's redeliveries;
  - a read (op 'r', written by a resync or by `astros tables add` at the
    load's version) that repeats the key's open version is that version read
    again, not a change: it is dropped. A key's first read opens its first
    version.

  Order: a key's changes by LSN. Row locks make that their commit order, and
  a load's reads carry a version between the changes it saw and the ones it
  did not. (Tables added before loads had versions kept one read per key at
  lsn 0: it sorts first.)

  Arguments: changes (the table's deduplicated change log), key (key columns),
  columns (the other columns, as the change log names them).
-#}
{% macro astros_scd2_history(changes, key, columns) -%}
{%- set keys = key | join(', ') -%}
{%- set per_key = 'partition by ' ~ keys ~ ' order by lsn' -%}
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
        cityHash64(toString(tuple({{ columns | join(', ') if columns else "''" }}))) as row_hash
    from {{ changes }} final

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
    {{ astros_surrogate_key(key + ['lsn']) }} as version_key,
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
