-- One row per CDC event of public.astronauts, renamed and cast. Duplicates from
-- the at-least-once Kafka consumer are still here (deduplicated in the marts).

with

source as (

    select * from {{ source('astros', 'astronauts_changelog') }}

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
        captured_ts as captured_at,
        ingested_at,
        created_at as source_created_at,
        updated_at as source_updated_at,

        -- delivery
        kafka_partition,
        kafka_offset

    from source

)

select * from renamed
