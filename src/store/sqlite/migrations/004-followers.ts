/**
 * What a change of leader must not lose: the notification cursor (the last event seq whose
 * webhooks the leader finished with, so the next leader sends what came after) and each
 * service's data-plane status as the leader last saw it, which followers show.
 *
 * @module
 */

export const sql = `
-- One row per cursor; today only 'notifications'.
CREATE TABLE cursors (
  name TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE traffic_status (
  service TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  recorded_by TEXT NOT NULL
) STRICT;
`;
