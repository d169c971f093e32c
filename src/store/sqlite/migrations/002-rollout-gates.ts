/**
 * Gates: each rollout keeps which gates it has passed and where it waits (JSON). Rollouts
 * written before gates existed passed none and wait nowhere.
 *
 * @module
 */

export const sql = `
ALTER TABLE rollouts ADD COLUMN gates TEXT NOT NULL DEFAULT '{"passed":[],"waiting":null}';
`;
