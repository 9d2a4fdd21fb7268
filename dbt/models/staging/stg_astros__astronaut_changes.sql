-- One row per committed change of public.astronauts, renamed and cast. Reads
-- the deduplicated change log with FINAL: redeliveries and replays of the
-- at-least-once Kafka consumer (same person_key and lsn) collapse there, so
-- each change appears exactly once however often it was delivered.

with

source as (

    select * from {{ source('astros', 'astronauts_changes') }} final

),

renamed as (

    select
        -- keys
        person_key,
        lsn as change_lsn,
        tx_id,

        -- attributes
        name,
        craft,
        updated_by_run,

        -- change
        toString(op) as change_op,
        toBool(is_deleted) as is_delete,

        -- timestamps
        commit_ts as committed_at,
        created_at as source_created_at,
        updated_at as source_updated_at

    from source

)

select * from renamed
