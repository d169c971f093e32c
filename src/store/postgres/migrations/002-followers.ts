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
  name text PRIMARY KEY,
  seq bigint NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE traffic_status (
  service text PRIMARY KEY,
  status jsonb NOT NULL,
  recorded_at bigint NOT NULL,
  recorded_by text NOT NULL
);
`;
