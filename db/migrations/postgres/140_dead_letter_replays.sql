-- What `astros dead-letters replay` did with each kept record (issue 22), so a
-- replay is idempotent: an item with a row here is never replayed again.
--   source   'ingest_rejects' (item = reject_id) or 'kafka_errors' (item = topic/partition/offset)
--   outcome  applied        the record is in (a person inserted, a message produced again)
--            present        nothing to do: the person was already there
--            superseded     a newer snapshot was applied since: it decided this person's presence
--            unrecoverable  the kept text was cut (raw_truncated): the record cannot be rebuilt
--   result   where the replay went (kafka: topic/partition/offset of the message produced again)
-- Records that still fail the checks are reported, not recorded: they can be replayed after the next fix.
create table if not exists dead_letter_replays (
  source      text        not null check (source in ('ingest_rejects', 'kafka_errors')),
  item        text        not null,
  outcome     text        not null check (outcome in ('applied', 'present', 'superseded', 'unrecoverable')),
  detail      text        not null default '',
  result      text,
  replayed_at timestamptz not null default now(),
  primary key (source, item)
);

create index if not exists dead_letter_replays_result on dead_letter_replays (source, result) where result is not null;
