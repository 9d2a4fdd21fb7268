-- A capture gap ends after it starts, and the reload that repaired its table
-- comes after it (its version, one below the WAL position read after the new
-- slot was made, is not below the gap's end). Returns
-- each gap that breaks this.

select
    source_table,
    gap_from_lsn,
    gap_to_lsn,
    reload_lsn
from {{ ref('fct_capture_gaps') }}
where gap_to_lsn <= gap_from_lsn
    or (reload_lsn is not null and reload_lsn + 1 < gap_to_lsn)
