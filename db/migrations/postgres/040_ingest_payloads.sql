-- Claim check for fetched bodies: payloads can be megabytes, too big for
-- Temporal history, so the fetch stores the body here and the later steps get
-- a reference (payload_id + sha256). Pruned a day after fetching.
create table if not exists ingest_payloads (
  payload_id  text        primary key,
  source_url  text        not null,
  body        bytea       not null,
  bytes       integer     not null,
  sha256      text        not null,
  fetched_at  timestamptz not null
);

create index if not exists ingest_payloads_fetched_at on ingest_payloads (fetched_at);
