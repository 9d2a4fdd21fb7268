-- SCD2 history of public.astronauts built from the CDC change log: one row per
-- version, valid from the commit time of its change until the commit time of
-- the next change of the same person. A delete (departure) closes the open row
-- and opens none; an insert after a delete (return) opens a new stint.
--
-- Incremental by LSN, per person_key: a run reads only the changes newer than
-- the newest change this table already reflects for that person, plus that
-- person's open row, which it re-emits with its new valid_to. delete+insert on
-- astronaut_version_key then swaps the open row for the closed one. A rerun
-- without new changes selects nothing; a full refresh gives the same rows.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete_insert',
        unique_key='astronaut_version_key',
        order_by='(person_key, valid_from_lsn)',
        on_schema_change='fail'
    )
}}

{%- set person_key_prefix = var('person_key_prefix', '') | string %}

with

changes as (

    select * from {{ ref('stg_astros__astronaut_changes') }}
    {%- if person_key_prefix %}
    where startsWith(person_key, '{{ person_key_prefix | replace("\\", "\\\\") | replace("'", "\\'") }}')
    {%- endif %}

),

{% if is_incremental() %}

reflected as (

    -- per person: the newest change already in this table (a departure is
    -- reflected as the valid_to_lsn of the row it closed), and the numbering
    -- to continue from
    select
        person_key,
        toNullable(max(greatest(valid_from_lsn, coalesce(valid_to_lsn, 0)))) as reflected_lsn,
        max(version_number) as last_version_number,
        max(stint_number) as last_stint_number
    from {{ this }}
    group by person_key

),

new_changes as (

    select changes.*
    from changes
    left join reflected on changes.person_key = reflected.person_key
    where reflected.reflected_lsn is null
        or changes.change_lsn > reflected.reflected_lsn

),

open_rows as (

    -- the open row of each person with new changes: it is closed (or stays
    -- open) depending on what follows it
    select *
    from {{ this }}
    where is_current
        and person_key in (select person_key from new_changes)

),

{% else %}

new_changes as (

    select * from changes

),

{% endif %}

deduplicated as (

    -- staging already holds each change once (the change log read with FINAL);
    -- one row per (person_key, lsn) is what this model's windows rely on
    select *
    from new_changes
    order by person_key, change_lsn
    limit 1 by person_key, change_lsn

),

events as (

    -- the new changes, plus (incremental runs) the open rows they follow
    select
        person_key,
        change_lsn,
        committed_at,
        change_op,
        is_delete,
        name,
        craft,
        tx_id,
        updated_by_run,
        false as is_carried,
        toUInt32(0) as carried_version_number,
        toUInt32(0) as carried_stint_number
    from deduplicated

    {% if is_incremental() %}
    union all

    select
        person_key,
        valid_from_lsn as change_lsn,
        valid_from as committed_at,
        change_op,
        false as is_delete,
        name,
        craft,
        tx_id,
        updated_by_run,
        true as is_carried,
        version_number as carried_version_number,
        stint_number as carried_stint_number
    from open_rows
    {% endif %}

),

with_base as (

    select
        events.*,
        {% if is_incremental() -%}
        coalesce(reflected.last_version_number, 0) as base_version_number,
        coalesce(reflected.last_stint_number, 0) as base_stint_number
        {%- else -%}
        toUInt32(0) as base_version_number,
        toUInt32(0) as base_stint_number
        {%- endif %}
    from events
    {% if is_incremental() -%}
    left join (
        select person_key, toNullable(last_version_number) as last_version_number, toNullable(last_stint_number) as last_stint_number
        from reflected
    ) as reflected on events.person_key = reflected.person_key
    {%- endif %}

),

sequenced as (

    select
        *,
        -- the previous event of this person in this batch (null for the first)
        lagInFrame(toNullable(is_delete)) over per_person_rows as previous_is_delete,
        row_number() over per_person_rows as batch_position,
        leadInFrame(toNullable(change_lsn)) over per_person_all as next_change_lsn,
        leadInFrame(toNullable(committed_at)) over per_person_all as next_committed_at,
        leadInFrame(toNullable(change_op)) over per_person_all as next_change_op
    from with_base
    window
        per_person_rows as (partition by person_key order by change_lsn rows between unbounded preceding and current row),
        per_person_all as (partition by person_key order by change_lsn rows between unbounded preceding and unbounded following)

),

flagged as (

    select
        *,
        -- a stint starts with the first version ever seen of a person (or the
        -- first after a departure) and with every version that follows a delete;
        -- a carried open row continues its stint
        not is_delete and not is_carried
            and (coalesce(previous_is_delete, false) or batch_position = 1) as starts_stint,
        not is_delete and not is_carried as is_new_version
    from sequenced

),

numbered as (

    select
        *,
        if(is_carried, carried_version_number,
            toUInt32(base_version_number + sum(toUInt32(is_new_version)) over per_person_rows)) as version_number,
        if(is_carried, carried_stint_number,
            toUInt32(base_stint_number + sum(toUInt32(starts_stint)) over per_person_rows)) as stint_number
    from flagged
    window per_person_rows as (partition by person_key order by change_lsn rows between unbounded preceding and current row)

),

final as (

    select
        {{ astros_surrogate_key(['person_key', 'change_lsn']) }} as astronaut_version_key,
        person_key,
        version_number,
        {{ astros_surrogate_key(['person_key', 'stint_number']) }} as stint_id,
        stint_number,
        name,
        craft,
        committed_at as valid_from,
        next_committed_at as valid_to,
        toBool(next_change_lsn is null) as is_current,
        change_lsn as valid_from_lsn,
        next_change_lsn as valid_to_lsn,
        change_op,
        next_change_op as closed_by_op,
        tx_id,
        updated_by_run,
        -- audit: the dbt run that (re)wrote this row
        '{{ invocation_id }}' as dbt_invocation_id,
        now64(3, 'UTC') as dbt_loaded_at
    from numbered
    where not is_delete

)

select * from final
