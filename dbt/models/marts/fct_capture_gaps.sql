-- One row per captured table and capture gap: the changes of source_table
-- committed after gap_from_lsn and before gap_to_lsn were not captured (the
-- replication slot was lost or missing), so the table's SCD2 history has no
-- version for them; the reload at reload_lsn brought each key's net result.
-- A version whose window [valid_from_lsn, valid_to_lsn) overlaps a gap of its
-- table may hide changes: "no change" there means "not captured".

{{ config(order_by='(source_table, gap_from_lsn)') }}

with

gaps as (

    select * from {{ ref('stg_astros__capture_gaps') }}

),

final as (

    select
        {{ astros_surrogate_key(['source_table', 'gap_from_lsn']) }} as capture_gap_key,
        source_table,
        gap_from_lsn,
        gap_to_lsn,
        -- the same positions as Postgres writes them (X/Y)
        {{ astros_lsn_text('gap_from_lsn') }} as gap_from_lsn_text,
        {{ astros_lsn_text('gap_to_lsn') }} as gap_to_lsn_text,
        gap_from_time,
        gap_to_time,
        gap_reason,
        replication_slot,
        reload_lsn,
        toBool(reload_lsn is not null) as is_reloaded,
        recovered_by,
        recorded_at
    from gaps

)

select * from final
