-- People per craft per UTC day, from the SCD2 history: a person counts for a
-- day and craft when one of their versions on that craft was valid at any time
-- during that day. Versions that opened and closed in the same instant (two
-- changes in one transaction) were never visible and are left out. People
-- still aboard count up to var('as_of_date') (default: today, UTC).

{{ config(order_by='(crew_date, craft)') }}

{%- set as_of_date = var('as_of_date', '') | string %}

with

versions as (

    select
        person_key,
        craft,
        valid_from,
        valid_to
    from {{ ref('dim_astronauts_scd2') }}
    where valid_to is null or valid_to > valid_from

),

windows as (

    select
        person_key,
        craft,
        valid_from,
        valid_to,
        toDate(valid_from) as first_day,
        -- a window is [valid_from, valid_to): it ends on the day of its last instant
        if(valid_to is null,
            {% if as_of_date %}toDate('{{ as_of_date }}'){% else %}today(){% endif %},
            toDate(assumeNotNull(valid_to) - toIntervalMillisecond(1))) as last_day
    from versions

),

person_days as (

    select
        person_key,
        craft,
        valid_from,
        valid_to,
        addDays(first_day, arrayJoin(range(toUInt32(greatest(dateDiff('day', first_day, last_day), 0) + 1)))) as crew_date
    from windows

),

final as (

    select
        crew_date,
        craft,
        toUInt32(uniqExact(person_key)) as people_count,
        -- aboard at the end of the day (midnight UTC at its close)
        toUInt32(uniqExactIf(person_key,
            valid_to is null or assumeNotNull(valid_to) >= toDateTime64(addDays(crew_date, 1), 3, 'UTC'))) as people_at_end_of_day,
        arraySort(groupUniqArray(person_key)) as person_keys
    from person_days
    group by crew_date, craft

)

select * from final
