import type { QueueObject } from './object-types.ts';

/**
 * A queue streams once its first view exists, into the views that existed when
 * its read began: created before its views, it wrote its first block into the
 * first view only (the current state missed it). Views bind to their source by
 * name, so they are made on this placeholder (same columns, a topic that never
 * exists, its own group), which the real queue then replaces.
 */
export function placeholderQueue(q: QueueObject): QueueObject {
  const settings = q.settings.map(([k, v]): [string, string | number] =>
    k === 'kafka_topic_list' ? [k, `${v}.placeholder-never-written`] : k === 'kafka_group_name' ? [k, `${v}-placeholder`] : [k, v],
  );
  return { ...q, settings };
}
