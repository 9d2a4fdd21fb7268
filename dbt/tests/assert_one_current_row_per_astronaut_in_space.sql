-- Exactly one current SCD2 row per person in space, agreeing with the
-- current-state table (FINAL, not deleted) on name, craft and LSN; nobody else
-- has a current row. People with changes the dimension has not read yet (CDC
-- kept flowing during the build, or a person_key_prefix run) are left out.
-- Returns one row per disagreeing person.

with

dimension as (

    select * from {{ ref('dim_astronauts_scd2') }}

),

reflected as (

    select
        person_key,
        toNullable(max(greatest(valid_from_lsn, coalesce(valid_to_lsn, 0)))) as reflected_lsn
    from dimension
    group by person_key

),

pending as (

    select distinct changes.person_key
    from {{ ref('stg_astros__astronaut_changes') }} as changes
    left join reflected on changes.person_key = reflected.person_key
    where reflected.reflected_lsn is null
        or changes.change_lsn > reflected.reflected_lsn

),

current_rows as (

    select
        person_key,
        true as has_current_row,
        count() as current_row_count,
        any(name) as name,
        any(craft) as craft,
        any(valid_from_lsn) as valid_from_lsn
    from dimension
    where is_current
    group by person_key

),

in_space as (

    select
        person_key,
        true as is_in_space,
        name,
        craft,
        version
    from {{ source('astros', 'astronauts') }} final
    where is_deleted = 0

),

compared as (

    select
        person_key,
        current_rows.has_current_row,
        current_rows.current_row_count,
        in_space.is_in_space,
        current_rows.name as dimension_name,
        in_space.name as state_name,
        current_rows.craft as dimension_craft,
        in_space.craft as state_craft,
        current_rows.valid_from_lsn as dimension_lsn,
        in_space.version as state_lsn
    from current_rows
    full outer join in_space using (person_key)

)

select *
from compared
where person_key not in (select person_key from pending)
    and (
        not has_current_row
        or not is_in_space
        or current_row_count != 1
        or dimension_name != state_name
        or dimension_craft != state_craft
        or dimension_lsn != state_lsn
    )
