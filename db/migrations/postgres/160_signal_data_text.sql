-- A re-read of the keys a validation found stale names them in the signal's
-- additional condition: a thousand keys are more than 4096 characters.
do $$
begin
  if current_schema() = 'public' and exists (
    select 1 from information_schema.columns
    where table_schema = 'public' and table_name = 'cdc_signal' and column_name = 'data' and data_type <> 'text'
  ) then
    alter table public.cdc_signal alter column data type text;
  end if;
end
$$;
