-- Validity windows of dim_astronauts_scd2 per person, in LSN order: within a
-- stint each version ends exactly where the next begins (no gap, no overlap);
-- a stint ends only with a departure, and the next stint starts no earlier;
-- versions and stints are numbered without holes; only open rows are current.
-- Returns one row per version that breaks a rule, with the rule.

with

versions as (

    select * from {{ ref('dim_astronauts_scd2') }}

),

with_next as (

    select
        *,
        leadInFrame(toNullable(valid_from_lsn)) over per_person as next_valid_from_lsn,
        leadInFrame(toNullable(valid_from)) over per_person as next_valid_from,
        leadInFrame(toNullable(stint_number)) over per_person as next_stint_number,
        leadInFrame(toNullable(version_number)) over per_person as next_version_number,
        row_number() over per_person as position
    from versions
    window per_person as (
        partition by person_key order by valid_from_lsn
        rows between unbounded preceding and unbounded following
    )

),

checked as (

    select
        *,
        multiIf(
            position = 1 and (version_number != 1 or stint_number != 1),
                'numbering does not start at 1',
            is_current != (valid_to is null),
                'is_current disagrees with valid_to',
            valid_to is not null and valid_to < valid_from,
                'window ends before it starts',
            (valid_to is null) != (valid_to_lsn is null),
                'valid_to and valid_to_lsn disagree',
            next_valid_from_lsn is null and not is_current and closed_by_op != 'd',
                'last version closed by something other than a departure',
            next_valid_from_lsn is not null and is_current,
                'current version is not the last',
            next_valid_from_lsn is not null and next_version_number != version_number + 1,
                'version numbers have a hole',
            next_stint_number = stint_number and closed_by_op = 'd',
                'departure does not end the stint',
            next_stint_number = stint_number
                and (valid_to != next_valid_from or valid_to_lsn != next_valid_from_lsn),
                'gap or overlap inside a stint',
            next_stint_number is not null and next_stint_number != stint_number
                and (next_stint_number != stint_number + 1 or closed_by_op != 'd'),
                'stint changes without a departure',
            next_stint_number is not null and next_stint_number != stint_number
                and next_valid_from < valid_to,
                'stints overlap',
            ''
        ) as broken_rule
    from with_next

)

select
    person_key,
    valid_from_lsn,
    broken_rule
from checked
where broken_rule != ''
