/**
 * What each instance's tracking endpoint counted, per flag and variant, shared through the
 * store: applications may send their exposures and events to any instance, and the leader's
 * analysis must judge all of them, not the part that happened to reach it.
 *
 * @module
 */

export const sql = `
CREATE TABLE tracking_reports (
  instance text PRIMARY KEY,
  at bigint NOT NULL,
  windows jsonb NOT NULL
);
`;
