-- One row per stint in space: from an arrival (or a return) to the departure
-- that ends it. Stints still in progress have no end and no duration, so the
-- table only changes when the history does.

{{ config(order_by='(person_key, stint_number)') }}

with

versions as (

    select * from {{ ref('dim_astronauts_scd2') }}

),

stints as (

    select
        stint_id,
        person_key,
        stint_number,
        argMax(name, valid_from_lsn) as name,
        argMin(craft, valid_from_lsn) as first_craft,
        argMax(craft, valid_from_lsn) as last_craft,
        arrayDistinct(arrayMap(v -> v.2, arraySort(groupArray((valid_from_lsn, craft))))) as crafts,
        count() as version_count,
        min(valid_from) as started_at,
        toBool(max(is_current)) as is_ongoing,
        -- the departure closes the last version; versions closed by an update
        -- end earlier, so the latest valid_to is the departure time
        if(is_ongoing, null, max(valid_to)) as ended_at,
        min(valid_from_lsn) as started_lsn,
        if(is_ongoing, null, max(valid_to_lsn)) as ended_lsn
    from versions
    group by stint_id, person_key, stint_number

),

final as (

    select
        stint_id,
        person_key,
        stint_number,
        name,
        first_craft,
        last_craft,
        crafts,
        version_count,
        started_at,
        ended_at,
        is_ongoing,
        if(is_ongoing, null,
            (toUnixTimestamp64Milli(ended_at) - toUnixTimestamp64Milli(started_at)) / 1000) as duration_seconds,
        started_lsn,
        ended_lsn
    from stints

)

select * from final
