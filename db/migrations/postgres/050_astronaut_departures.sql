-- Who left when (people currently absent from the feed). Not published:
-- CDC consumers see departures as the DELETE on astronauts. A returning
-- person's row is removed from here when they are inserted again, which is
-- how a run counts "returned".
create table if not exists astronaut_departures (
  person_key       text        primary key,
  name             text        not null,
  craft            text        not null,
  departed_at      timestamptz not null,
  departed_in_run  text        not null
);
