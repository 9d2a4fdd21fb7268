-- One row per captured table and capture gap, renamed: the WAL stretch whose
-- changes the pipeline could not capture after its replication slot was lost
-- or missing (recoverPipeline records it). Read with FINAL: a recovery writes
-- a table's row again once the table is reloaded.

with

source as (

    select * from {{ source('astros', 'capture_gaps') }} final

),

renamed as (

    select
        -- keys
        source_table,
        from_lsn as gap_from_lsn,

        -- the gap
        to_lsn as gap_to_lsn,
        from_time as gap_from_time,
        to_time as gap_to_time,
        toString(reason) as gap_reason,
        slot as replication_slot,

        -- the repair
        reload_lsn,
        recovered_by,
        recorded_at

    from source

)

select * from renamed
